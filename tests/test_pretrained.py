"""model.architecture: pretrained: keras.applications backbones, an earlier run as backbone, the two phases,
resume across them, and the one-line errors. Offline: weights are `none` or a file saved here."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg, step_save_reload
from tests.conftest import write_config

SMALL = {"architecture": "pretrained", "backbone": "mobilenet_v3_small", "weights": "none", "alpha": 0.35,
         "input_size": 32}


def _backbone(model):
    return model.get_layer("backbone")


#: the issue's backbone families; each is built once for this module (see ``built``)
FAMILIES = ["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0", "resnet50_v2"]


def _family_cfg(backbone: str, **model):
    """The smallest input the backbone takes (32), alpha 0.35 where it has one, the whole backbone trainable."""
    from aimodel.models.pretrained import BACKBONES

    model = {**SMALL, "backbone": backbone, "head_epochs": 0, "fine_tune_layers": "all", **model}
    if not BACKBONES[backbone].alpha:
        del model["alpha"]
    return make_cfg(model)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``built(backbone)`` → (model with ``weights: none``, a weights file, its weights), built once per module.

    The weights file is the backbone's own weights shifted (w × 0.5 + 0.25), so that every value in it
    differs from what a fresh build starts from: a load that does nothing cannot pass for one."""
    cache = {}
    folder = tmp_path_factory.mktemp("weights")

    def get(backbone: str):
        if backbone not in cache:
            model = build_model(_family_cfg(backbone), image_bundle(n=4, size=8, channels=3))
            net = _backbone(model)
            initial = [w.numpy() for w in net.weights]
            saved = [w * 0.5 + 0.25 for w in initial]
            net.set_weights(saved)
            path = folder / f"{backbone}.weights.h5"
            net.save_weights(path)
            net.set_weights(initial)
            cache[backbone] = (model, path, saved)
        return cache[backbone]

    return get


# --- keras.applications backbones -----------------------------------------------------------------


def test_mobilenet_v3_small_builds_trains_one_step_and_reloads_grayscale_converted(tmp_path, caplog):
    cfg = make_cfg(SMALL)
    bundle = image_bundle(n=16, size=8, channels=1)
    with caplog.at_level(logging.WARNING):
        model = build_model(cfg, bundle)
    assert "grayscale images are repeated into 3 channels" in caplog.text
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["image", "resize", "gray_to_rgb", "backbone"]  # raw pixels: the backbone rescales them
    assert len(model.trainable_weights) == 2  # phase 1: only the new classifier trains
    step_save_reload(model, bundle, tmp_path)


@pytest.mark.parametrize("backbone", FAMILIES)
def test_each_backbone_family_trains_one_step_and_loads_a_local_weights_file(backbone, built):
    from aimodel.training.config import TrainingConfig
    from aimodel.training.optim import compile_model

    model, path, saved = built(backbone)
    net = _backbone(model)
    assert len(model.trainable_weights) > 2  # head_epochs: 0 + all: the backbone trains from the start
    before = [w.numpy() for w in net.trainable_weights]
    compile_model(model, TrainingConfig(batch_size=2, steps_per_execution=1, jit_compile=False))
    model.run_eagerly = True  # one step: tracing the graph would cost 10-20 s a family on 2 cores
    x, y = image_bundle(n=4, size=8, channels=3).train.x.astype("float32"), np.array([0, 1, 2, 0])
    history = model.fit(x, y, batch_size=2, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()
    after = [w.numpy() for w in net.trainable_weights]
    assert not np.array_equal(before[0], after[0])  # the bottom of the backbone trained too
    assert not np.array_equal(before[-1], after[-1])

    loaded = _backbone(build_model(_family_cfg(backbone, weights=str(path)), image_bundle(n=4, size=8, channels=3)))
    got = [w.numpy() for w in loaded.weights]
    assert len(got) == len(saved)
    for a, b in zip(got, saved):
        np.testing.assert_array_equal(a, b)


def test_resnet_preprocess_input_is_part_of_the_model(built):
    """resnet50_v2's preprocess_input (mode tf: pixels to [-1, 1]) as a layer of the model."""
    import keras

    layer = built("resnet50_v2")[0].get_layer("backbone_preprocess")
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    expected = keras.applications.resnet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(layer(pixels).numpy(), expected, atol=1e-6)


# --- bad input ----------------------------------------------------------------------------------


def test_unknown_backbone_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.backbone: unknown backbone 'mobilenet_v9'; known: "
                                          r"mobilenet_v2, mobilenet_v3_small, .*resnet50_v2"):
        make_cfg({**SMALL, "backbone": "mobilenet_v9"})


def test_unknown_backbone_exits_1_with_one_line(tmp_path):
    from aimodel.cli import main

    config = write_config(tmp_path / "c.yaml", {"name": "c", "dataset": {"name": "digits"},
                                                 "model": {"architecture": "pretrained", "backbone": "vgg99"}})
    result = CliRunner().invoke(main, ["train", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "unknown backbone 'vgg99'" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_an_input_smaller_than_the_backbone_minimum_is_refused():
    with pytest.raises(ConfigError, match=r"needs images of at least 32×32, got 8×8; set model\.input_size"):
        build_model(make_cfg({**SMALL, "input_size": None}), image_bundle(n=8, size=8))


def test_standardize_does_not_combine_with_a_pretrained_backbone():
    with pytest.raises(ConfigError, match=r"dataset\.normalize: .*standardize does not apply"):
        make_cfg(SMALL, dataset={"name": "digits", "normalize": "standardize"})


@pytest.fixture
def fresh_url_opener():
    """urlopen() builds its opener (and reads the proxy settings) once per process: build it again before
    and after, so the closed proxy below neither misses this test nor stays for the later ones."""
    import urllib.request

    urllib.request.install_opener(None)
    yield
    urllib.request.install_opener(None)


def test_missing_weights_offline_names_the_file_and_the_folder(tmp_path, monkeypatch, fresh_url_opener):
    """No network is touched: the proxy is a closed local port, so Keras' download fails at once."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cfg = make_cfg({**SMALL, "weights": "imagenet", "alpha": 1.0, "input_size": 224})
    with pytest.raises(ConfigError) as info:
        build_model(cfg, image_bundle(n=8, size=8, channels=3))
    message = str(info.value)
    assert "\n" not in message
    assert "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5" in message
    assert str(tmp_path / "keras" / "models") in message


def test_a_weights_file_of_another_network_is_refused(built):
    path = built("mobilenet_v3_small")[1]
    cfg = make_cfg({**SMALL, "backbone": "mobilenet_v3_large", "weights": str(path)})
    with pytest.raises(ConfigError, match=r"model\.weights: .*does not fit the mobilenet_v3_large backbone"):
        build_model(cfg, image_bundle(n=8, size=8, channels=3))


def test_plain_progress_prints_a_line_within_a_long_epoch(capsys, monkeypatch):
    """Output to a file: a line per ``every`` seconds inside an epoch, none for a quick epoch."""
    from aimodel import cli_render

    clock = iter([0.0, 5.0, 31.0, 40.0, 62.0])
    monkeypatch.setattr(cli_render.time, "monotonic", lambda: next(clock))
    reporter = cli_render.PlainReporter(every=30.0)
    reporter.train_begin(2, 10, "runs/x/1")
    reporter.epoch_begin(1)  # t = 0
    for step, _ in zip((1, 2, 3, 4), range(4)):  # t = 5, 31, 40, 62
        reporter.batch_end(1, step, {"loss": 0.5, "accuracy": 0.75})
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["epoch 1/2  step 2/10  loss 0.5000  accuracy 0.7500",
                         "epoch 1/2  step 4/10  loss 0.5000  accuracy 0.7500"]


def test_the_image_folder_template_trains_on_a_tiny_folder(tmp_path):
    """configs/image_folder.yaml as README shows it, on a generated folder of 4 classes × 8 photos."""
    from PIL import Image

    from aimodel.cli import main
    from tests.conftest import ROOT

    rng = np.random.default_rng(0)
    for k in range(4):
        (tmp_path / "photos" / f"c{k}").mkdir(parents=True)
        for j in range(8):
            img = rng.integers(0, 80, size=(24, 24, 3)).astype(np.uint8)
            img[(k // 2) * 12:(k // 2) * 12 + 12, (k % 2) * 12:(k % 2) * 12 + 12] = 220
            Image.fromarray(img).save(tmp_path / "photos" / f"c{k}" / f"{j}.jpg")
    result = CliRunner().invoke(main, ["train", str(ROOT / "configs" / "image_folder.yaml"), "--set",
                                       f"dataset.path={tmp_path / 'photos'}", "--set", "training.epochs=3",
                                       "--run-dir", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "best.keras").is_file()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4  # header + 3 epochs (warm-up 2 < epochs)
