"""Regression tests for the third hardening round (issue 30): each reproduces the original failure.

Tests that start real processes are marked ``subprocess`` (they take seconds, not milliseconds).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.fileio import atomic_save_model, atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 9. files written atomically get the mode a plain open() gives -----------------------------


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert _mode(tmp_path / "a.txt") == _mode(plain) == 0o666 & ~mask
    assert _mode(tmp_path / "a.json") == 0o666 & ~mask


def test_atomic_writes_keep_an_existing_files_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "config.yaml"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o640
    path.chmod(0o604)
    atomic_write_json(path, {})
    assert _mode(path) == 0o604


def test_an_atomically_saved_model_is_readable_by_others(tmp_path, umask):
    import keras

    umask(0o022)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    atomic_save_model(model, tmp_path / "best.keras")
    assert _mode(tmp_path / "best.keras") == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_every_file_of_a_run_has_the_mode_of_a_plain_file(trained_run, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")  # what the umask of this test session gives
    modes = {str(p.relative_to(trained_run)): _mode(p) for p in trained_run.rglob("*") if p.is_file()}
    assert {"best.keras", "config.yaml", "meta.json", "metrics.csv"} <= set(modes)
    assert {name: m for name, m in modes.items() if m != _mode(plain)} == {}


# --- 12. small things ---------------------------------------------------------------------------


def test_the_next_command_is_shell_quoted(tmp_path):
    import shlex

    from tests.conftest import TINY, write_config

    config = write_config(tmp_path / "tiny.yaml", dict(TINY, training={"epochs": 1, "batch_size": 32}))
    root = tmp_path / "my runs [v2]"  # a space, and brackets that rich would read as markup
    result = _invoke("train", config, "--runs-root", root)
    assert result.exit_code == 0, result.output
    line = next(li for li in result.output.splitlines() if li.startswith("next: "))
    words = shlex.split(line[len("next: "):])
    assert words[:2] == ["aimodel", "evaluate"] and len(words) == 3
    assert Path(words[2]).parent.parent == root and (Path(words[2]) / "best.keras").is_file()


def test_runs_list_never_shows_more_epochs_done_than_planned(tmp_path, monkeypatch):
    from aimodel.training import records
    from aimodel.training.records import list_runs
    from aimodel.training.runner import resume, train
    from tests.conftest import TINY

    from aimodel.config import config_from_dict

    cfg = config_from_dict(dict(TINY, training={"epochs": 1, "batch_size": 32}))
    run_dir = train(cfg, run_dir=tmp_path / "run").run_dir
    seen = []
    original = records.RunRecord.finish

    def finish(self, *args, **kwargs):  # the last epoch is committed; summary.json is what `runs list` read mid-run
        seen.append(list_runs(tmp_path)[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(records.RunRecord, "finish", finish)
    resume(run_dir, overrides=["training.epochs=2"])
    assert (seen[0].epochs_completed, seen[0].epochs) == (2, 2)


def _evaluation_output(run, data):
    result = _invoke("evaluate", run, "--data", data)
    assert result.exit_code == 0, result.output
    return result.output


def test_top_k_accuracy_is_not_printed_for_two_classes(tabular_run, tmp_path):
    data = tmp_path / "things.csv"
    data.write_text("size,colour,label\n1,red,big\n-2,red,small\n3,blue,big\n-1,blue,small\n0.5,red,small\n")
    out = _evaluation_output(tabular_run, data)
    assert "accuracy" in out and "top-2" not in out and "top-3" not in out


def test_top_k_accuracy_is_printed_for_more_classes(trained_run):
    assert "top-3 accuracy" in _evaluation_output(trained_run, trained_run / "config.yaml")


def test_a_refused_tune_prints_its_error_without_an_empty_table(tmp_path):
    from tests.conftest import TINY, write_config

    search = {"algorithm": "random", "objective": "val_accuracy", "max_trials": 1,
              "space": {"training.learning_rate": {"choice": [0.001, 0.01]}}}
    config = write_config(tmp_path / "search.yaml", dict(TINY, search=search))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "search.yaml").write_text("a search already running here")
    result = _invoke("tune", config, "--run-dir", busy)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: --run-dir {busy}: not empty; give a new folder, "
                                                   f"or --resume {busy} to continue it"]


@pytest.mark.serve
def test_serve_names_every_missing_column(tabular_run):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    model = ServedModel(tabular_run, name="sizes")
    with TestClient(create_app(model, ServeSettings(model=str(model.checkpoint.model_path)))) as client:
        def error(instance):
            r = client.post("/v1/models/sizes:predict", json={"instances": [instance]})
            assert r.status_code == 400, r.text
            return r.json()["error"]

        assert "missing columns 'size', 'colour'" in error({"other": 1})
        assert "missing column 'colour'" in error({"size": 1})


def test_a_symlink_loop_as_dataset_path_is_named_as_such(tmp_path):
    from aimodel.config import load_config
    from aimodel.errors import ConfigError
    from tests.conftest import write_config

    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    config = write_config(tmp_path / "c.yaml", {"name": "t", "dataset": {"name": "csv", "path": str(tmp_path / "a.csv"),
                                                                          "label": "y"}, "model": {"architecture": "mlp"}})
    with pytest.raises(ConfigError, match=r"dataset\.path: .*a\.csv is a symlink loop") as info:
        load_config(config)
    assert "not found" not in str(info.value)


# --- 14. a saved model with aimodel's custom layers loads where the docs say it does -------------

_ARCHITECTURES = {  # every architecture, on each kind of input its custom layers (or standardize_text) serve
    "cnn-image": ({"architecture": "cnn", "filters": [4], "dense": [8]}, "image_bundle"),
    "mlp-table": ({"architecture": "mlp", "units": [4]}, "table_bundle"),
    "rnn-text": ({"architecture": "rnn", "cell": "GRU", "units": [4], "embedding_dim": 4}, "text_bundle"),
    "rnn-sequence": ({"architecture": "rnn", "cell": "LSTM", "units": [4]}, "sequence_bundle"),
    "vit-image": ({"architecture": "transformer", "embed_dim": 8, "num_heads": 2, "ff_dim": 16, "num_layers": 1,
                   "patch_size": 4, "pooling": "cls"}, "image_bundle"),
    "transformer-text": ({"architecture": "transformer", "embed_dim": 8, "num_heads": 2, "ff_dim": 16,
                          "num_layers": 1}, "text_bundle"),
    "transformer-sequence": ({"architecture": "transformer", "embed_dim": 8, "num_heads": 2, "ff_dim": 16,
                              "num_layers": 1, "pooling": "max"}, "sequence_bundle"),
}

_LOAD_IN_A_FRESH_PROCESS = """
import pickle, sys
import numpy as np
import aimodel
assert "keras" not in sys.modules and "tensorflow" not in sys.modules, "import aimodel must stay light"
import keras
import tensorflow as tf

def tensors(x):  # strings go in as tf.string tensors (Keras' predict refuses NumPy's str dtype)
    return {k: tensors(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)

cases = pickle.loads(open(sys.argv[1], "rb").read())
for name, (path, x, expected) in cases.items():
    x = tensors(x)
    model = keras.saving.load_model(path)  # as docs/architectures.md says: safe mode (the default), no custom_objects
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(aimodel.load_model(path).predict(x, verbose=0), expected, atol=1e-5, err_msg=name)
    print("loaded", name)
"""


def _tensors(x):  # as the script's tensors()
    import tensorflow as tf

    return {k: _tensors(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)


@pytest.mark.subprocess
def test_every_architecture_loads_with_plain_keras_after_import_aimodel(tmp_path):
    import pickle

    import numpy as np

    import tests._models_support as support
    from aimodel.models.factory import build_model

    cases = {}
    for name, (model_section, bundle_name) in _ARCHITECTURES.items():
        bundle = getattr(support, bundle_name)()
        model = build_model(support.make_cfg(model_section), bundle)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        x = bundle.test.x
        x = {k: v.astype(str) if v.dtype == object else v for k, v in x.items()} if isinstance(x, dict) else (
            x.astype(str) if x.dtype == object else x.astype(np.float32))
        cases[name] = (str(path), x, model.predict(_tensors(x), verbose=0))
    (tmp_path / "cases.pkl").write_bytes(pickle.dumps(cases))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _LOAD_IN_A_FRESH_PROCESS, str(tmp_path / "cases.pkl")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [w for name in _ARCHITECTURES for w in ("loaded", name)]
