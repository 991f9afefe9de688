"""dataset.anchor: last — a forecast relative to each window's last target value, inside the saved model: the
inputs and the head's targets are anchored, the output is that value plus the head's answer (a zero head is
persistence), the model loads in safe mode, beats persistence on a trend that leaves the training range,
and exports to TFLite."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.data import load_data
from tests.conftest import write_config

START = dt.date(2023, 1, 1)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def trending(path: Path, n: int = 300) -> Path:
    """``date,load,temp``: a steep linear trend (the test part lies far above the training range), a weekly
    sine and a little noise; ``temp`` a feature in its own unit."""
    t = np.arange(n)
    load = 100 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 0.05, n)
    rows = [f"{START + dt.timedelta(days=i)},{load[i]:.4f},{np.cos(i / 5):.3f}" for i in range(n)]
    path.write_text("date,load,temp\n" + "\n".join(rows) + "\n")
    return path


def config(data: Path, anchor: str = "last", **training) -> dict:
    return {"name": "a", "seed": 3,
            "dataset": {"name": "timeseries", "path": str(data), "time_column": "date", "target": "load",
                        "features": ["temp"], "window": 14, "horizon": 3, "season": 7, "anchor": anchor},
            "model": {"architecture": "mlp", "units": [32]},
            "training": {"epochs": 25, "batch_size": 16, "learning_rate": 0.005, "tensorboard": False, **training}}


def built(tmp_path: Path, anchor: str = "last"):
    from aimodel.models.factory import build_model

    cfg = load_config(write_config(tmp_path / "c.yaml", config(trending(tmp_path / "s.csv"), anchor)))
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    return build_model(cfg, bundle), bundle


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("anchor")
    cfg = write_config(tmp / "a.yaml", config(trending(tmp / "load.csv")))
    result = _invoke("train", cfg, "--run-dir", tmp / "run", "--quiet")
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_the_output_is_the_last_value_plus_the_head_and_a_zero_head_is_persistence(tmp_path):
    from aimodel.models.factory import ADD_ANCHOR, TARGET_UNITS
    from aimodel.models.inputs import anchor_windows

    model, bundle = built(tmp_path)
    x = bundle.test.x
    last = x[:, -1, :1].astype(np.float64)
    assert model.layers[-1].name == ADD_ANCHOR
    # the inputs are anchored before the standardization, which was adapted on anchored training windows
    anchored = model.get_layer("anchor")(x).numpy()
    np.testing.assert_allclose(anchored, anchor_windows(x), atol=1e-5)
    assert (anchored[:, -1, 0] == 0).all() and np.array_equal(anchored[:, :, 1], x[:, :, 1])  # features as given
    norm = model.get_layer("normalize")
    np.testing.assert_allclose(np.ravel(norm.mean), anchor_windows(bundle.train.x).reshape(-1, 2).mean(0),
                               rtol=1e-4, atol=1e-4)
    # the head's units come from the anchored training targets (y minus the last value), not from y
    units = model.get_layer(TARGET_UNITS).get_config()
    change = bundle.train.y.astype(np.float64) - bundle.train.x[:, -1, :1]
    np.testing.assert_allclose(units["mean"], change.mean(0), rtol=1e-5)
    np.testing.assert_allclose(units["variance"], change.var(0), rtol=1e-4)
    assert np.sqrt(units["variance"]).max() < 0.5 * bundle.train.y.std()  # changes spread far less than levels

    head = __import__("keras").Model(model.inputs, model.get_layer(TARGET_UNITS).output)
    np.testing.assert_allclose(model.predict(x, verbose=0), head.predict(x, verbose=0) + last, rtol=1e-6, atol=1e-4)
    dense = model.get_layer("predictions")
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), -np.asarray(units["mean"]) / np.sqrt(units["variance"])])
    np.testing.assert_allclose(model.predict(x, verbose=0), np.repeat(last, 3, axis=1), atol=1e-4)


def test_anchor_none_builds_the_model_as_before(tmp_path):
    from aimodel.models.factory import TARGET_UNITS

    model, bundle = built(tmp_path, "none")
    assert model.layers[-1].name == TARGET_UNITS and "anchor" not in [layer.name for layer in model.layers]
    np.testing.assert_allclose(model.get_layer(TARGET_UNITS).get_config()["mean"], bundle.train.y.mean(0), rtol=1e-5)


def test_the_saved_model_loads_in_safe_mode_and_predicts_the_same(tmp_path):
    import keras

    model, bundle = built(tmp_path)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(bundle.test.x, verbose=0), model.predict(bundle.test.x, verbose=0))


def test_meta_records_the_anchor_and_the_run_beats_persistence_on_a_trend(run):
    import keras

    from aimodel.data.spec import InputSpec

    spec = InputSpec.from_json(json.loads((run / "meta.json").read_text())["input"])
    assert spec.anchor == "last"
    with pytest.raises(ValueError, match="anchor: expected \"none\" or \"last\""):
        InputSpec.from_json({**spec.to_json(), "shape": list(spec.shape), "anchor": "first"})
    keras.saving.load_model(run / "best.keras", safe_mode=True)
    report = json.loads(_invoke("evaluate", run, "--json").output)
    persistence = report["baselines"]["persistence"]["mae"]
    assert report["mae"] < 0.5 * persistence, report  # the test part lies far above the training range


def test_anchor_defaults_to_last_and_is_a_checked_key(tmp_path):
    from aimodel.errors import ConfigError

    plain = config(trending(tmp_path / "s.csv"))
    del plain["dataset"]["anchor"]
    assert load_config(write_config(tmp_path / "d.yaml", plain)).dataset.anchor == "last"
    with pytest.raises(ConfigError, match=r"dataset.anchor"):
        load_config(write_config(tmp_path / "c.yaml", config(trending(tmp_path / "s.csv"), "first")))


@pytest.mark.export
def test_an_anchored_model_exports_to_tflite_and_verifies(run):
    result = _invoke("export", run, "--format", "tflite", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["exports"]
    assert [r["status"] for r in rows] == ["ok"] and rows[0]["max_diff_std"] < 1e-3, rows
