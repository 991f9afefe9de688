"""Training from an earlier run (model.backbone: RUN_DIR): the two phases, exact resume across them,
meta.json's record, the input check, and export/serve of a keras.applications-backbone run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg

SOURCE = {"architecture": "cnn", "filters": [4, 6], "dense": [8], "batch_norm": True}


def _npz(bundle, path):
    """The bundle as an .npz dataset section: a resumed run reloads its data from the config."""
    x, y = bundle.train.x, bundle.train.y
    np.savez(path, x_train=x[:, :, :, 0] if x.shape[-1] == 1 else x, y_train=y,
             x_test=bundle.test.x[:, :, :, 0] if x.shape[-1] == 1 else bundle.test.x, y_test=bundle.test.y)
    return {"name": "npz", "path": str(path), "validation_split": 0.0}


def _train(model: dict, bundle, run_dir, **training):
    from aimodel.training.runner import train

    training = {"lr_schedule": {"type": "constant"}, "learning_rate": 0.01, **training}
    dataset = _npz(bundle, run_dir.parent / f"{run_dir.name}.npz")
    return train(make_cfg(model, dataset=dataset, **training), run_dir=run_dir)


def _weights(path) -> dict:
    from aimodel.inference.checkpoint import load_model

    model = load_model(path)
    return {w.path: w.numpy() for w in model.get_layer("backbone").weights}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A small CNN with batch norm trained on 3 classes: the earlier model."""
    run = tmp_path_factory.mktemp("source") / "run"
    _train(SOURCE, image_bundle(n=24, size=8, classes=3), run, epochs=1)
    return run


def _transfer(source_run, **extra):
    return {"architecture": "pretrained", "backbone": str(source_run), "head_epochs": 1, "fine_tune_layers": 3,
            "fine_tune_lr_scale": 0.5, **extra}


def test_phase_1_freezes_the_backbone_and_phase_2_keeps_batch_norm_statistics(source_run, tmp_path):
    import shutil

    from aimodel.inference.checkpoint import load_model
    from aimodel.training.runner import resume

    bundle = image_bundle(n=24, size=8, classes=2)  # new classes: a new head
    result = _train(_transfer(source_run), bundle, tmp_path / "run", epochs=1)
    assert result.model.output_shape == (None, 2)
    shutil.copyfile(tmp_path / "run" / "last.keras", tmp_path / "epoch1.keras")
    resume(tmp_path / "run", overrides=["training.epochs=3"])
    source = load_model(source_run / "best.keras")
    start = {w.path: w.numpy() for w in source.weights}
    epoch1 = _weights(tmp_path / "epoch1.keras")
    epoch3 = _weights(tmp_path / "run" / "last.keras")
    # Phase 1 (epoch 1): every backbone weight is the source run's.
    assert len(epoch1) == len([p for p in start if not p.startswith("predictions")])
    for path, value in epoch1.items():
        np.testing.assert_array_equal(value, start[path], err_msg=path)
    # Phase 2: the top 3 weighted layers (block2_conv1, its batch norm, dense1) are unfrozen, batch norm excepted.
    changed = {p for p, v in epoch3.items() if not np.array_equal(v, epoch1[p])}
    assert changed == {"block2_conv1/kernel", "dense1/kernel", "dense1/bias"}, changed
    assert not any("moving" in p or "bn" in p for p in changed), changed
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["started_from"]["backbone"] == str(source_run)
    assert meta["started_from"]["model"].endswith("best.keras") and len(meta["started_from"]["sha256"]) == 64


@pytest.mark.parametrize("stop_after", [1, 2])  # at the boundary (phase-1 checkpoint) and after it
def test_resume_across_the_phase_boundary_is_exact(source_run, tmp_path, stop_after):
    from aimodel.training.runner import resume

    bundle = image_bundle(n=24, size=8, classes=2)
    whole = _train(_transfer(source_run), bundle, tmp_path / "whole", epochs=3)
    _train(_transfer(source_run), bundle, tmp_path / "part", epochs=stop_after)
    resumed = resume(tmp_path / "part", overrides=["training.epochs=3"])
    assert resumed.global_step == whole.global_step
    for a, b in zip(whole.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_backbone_run_with_another_input_shape_is_refused(source_run):
    cfg = make_cfg(_transfer(source_run))
    with pytest.raises(ConfigError, match=r"model\.backbone: .* was trained on 8×8×1 images, this dataset gives "
                                          r"10×10×1"):
        build_model(cfg, image_bundle(n=8, size=10))


def test_a_missing_backbone_run_is_a_one_line_error(tmp_path):
    cfg = make_cfg({"architecture": "pretrained", "backbone": str(tmp_path / "nothing")})
    with pytest.raises(ConfigError, match=r"model\.backbone: .*no such run directory or model file"):
        build_model(cfg, image_bundle(n=8, size=8))


# --- a keras.applications backbone through export and serve --------------------------------------


@pytest.fixture(scope="module")
def mobilenet_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("mobilenet") / "run"
    model = {"architecture": "pretrained", "backbone": "mobilenet_v3_small", "weights": "none", "alpha": 0.35,
             "input_size": 32, "head_epochs": 1, "fine_tune_layers": 3}
    _train(model, image_bundle(n=16, size=8, channels=3), run, epochs=2)
    return run


@pytest.mark.export
def test_export_tflite_int8_and_onnx_of_a_backbone_run(mobilenet_run):
    from aimodel.export import export_run

    # int8 TFLite (the quantizer through the backbone's layers) and float ONNX (its converter): the other two
    # pairs add 34 s and nothing the backbone brings (tests/test_export.py covers every pair on a CNN)
    int8 = export_run(mobilenet_run, formats=["tflite"], quantize=["int8"], calibration=8, tolerance=1.0)
    onnx = export_run(mobilenet_run, formats=["onnx"], quantize=["none"], tolerance=1.0)
    rows = {r["file"]: r for r in int8["exports"] + onnx["exports"]}
    assert set(rows) == {"model_int8.tflite", "model.onnx"}, rows
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["model.onnx"]["max_prob_diff"] < 1e-4


@pytest.mark.serve
def test_serve_answers_for_a_backbone_run(mobilenet_run):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    served = ServedModel(mobilenet_run)
    pixels = np.random.default_rng(0).integers(0, 255, size=(2, 8, 8, 3)).tolist()
    with TestClient(create_app(served, ServeSettings(model=str(served.checkpoint.model_path)))) as client:
        response = client.post("/v1/models/t:predict", json={"instances": pixels})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 2 and all(len(p) == 3 and abs(sum(p) - 1) < 1e-4 for p in predictions)
