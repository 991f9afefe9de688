"""CNN family: backward-compatible keys, blocks/stride/residual, round trip, bad options."""

from __future__ import annotations

import pytest

from aimodel.config import load_config
from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg, step_save_reload
from tests.conftest import ROOT

# quickstart.yaml exactly as the foundation built it (name, type, output shape, params).
QUICKSTART = [
    ("image", "InputLayer", (None, 8, 8, 1), 0), ("rescale", "Rescaling", (None, 8, 8, 1), 0),
    ("block1_conv1", "Conv2D", (None, 8, 8, 32), 320), ("block1_act1", "Activation", (None, 8, 8, 32), 0),
    ("block1_pool", "MaxPooling2D", (None, 4, 4, 32), 0), ("block2_conv1", "Conv2D", (None, 4, 4, 64), 18496),
    ("block2_act1", "Activation", (None, 4, 4, 64), 0), ("block2_pool", "MaxPooling2D", (None, 2, 2, 64), 0),
    ("flatten", "Flatten", (None, 256), 0), ("dropout1", "Dropout", (None, 256), 0),
    ("dense1", "Dense", (None, 128), 32896), ("dropout_head", "Dropout", (None, 128), 0),
    ("predictions", "Dense", (None, 10), 1290),
]


def _layers(model):
    return [(l.name, type(l).__name__, tuple(l.output.shape), l.count_params()) for l in model.layers]


def test_quickstart_config_builds_the_same_network():
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    bundle = image_bundle(n=20, size=8, classes=10)
    assert _layers(build_model(cfg, bundle)) == QUICKSTART


def test_mnist_seed_config_is_the_classic_example():
    from aimodel.models.summary import summarize

    summary = summarize(load_config(ROOT / "configs" / "mnist_seed.yaml"))  # known shapes: no download
    assert [(r.name, r.params) for r in summary.layers if r.params] == [
        ("block1_conv1", 320), ("dense1", 692352), ("predictions", 1290)]
    assert summary.total_params == 693962
    assert "not loaded" in summary.input_source


def test_blocks_with_stride_residual_and_regularization(tmp_path):
    model_cfg = {
        "architecture": "cnn", "padding": "same", "pool_size": 1, "head": "global_avg", "dense": [8],
        "l2": 1e-3, "initializer": "he_normal", "block_dropout": 0.1,
        "blocks": [{"filters": 4, "convs": 2, "batch_norm": True, "residual": True},
                   {"filters": 8, "stride": 2, "residual": True, "pool_size": 2, "activation": "gelu"},
                   {"filters": 8, "residual": True}],
    }
    cfg = make_cfg(model_cfg)
    assert cfg.model.filters == [4, 8, 8]  # mirrors blocks, so the saved resolved config reloads
    bundle = image_bundle(n=24, size=8)
    model = build_model(cfg, bundle)
    names = {l.name: l for l in model.layers}
    assert "block3_add" in names and "block3_project" not in names  # same shape: plain identity shortcut
    assert "block1_project" in names  # 1 → 4 channels
    assert tuple(names["block2_conv1"].output.shape) == (None, 4, 4, 8)  # stride 2
    assert tuple(names["block2_project"].output.shape) == (None, 4, 4, 8)  # 1×1 conv, stride 2
    assert tuple(names["block2_pool"].output.shape) == (None, 2, 2, 8)
    assert names["block2_act1"].get_config()["activation"] == "gelu"
    assert names["block2_conv1"].kernel_initializer.__class__.__name__ == "HeNormal"
    # one L2 penalty per hidden kernel: 4 convs, 2 projections, 1 dense
    assert len(model.losses) == 7
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


@pytest.mark.parametrize("model, dataset, pattern", [
    ({"blocks": [{"filters": 8}], "filters": [16]}, None, r"model\.blocks.*model\.filters"),
    ({"residual": True, "padding": "valid"}, None, r"model\.residual needs model\.padding"),
    ({"filters": [8, 0]}, None, r"model\.filters\[1\]: must be ≥ 1"),
    ({"blocks": [{"filters": 8, "strides": 2}]}, None, r"model\.blocks\[0\]\.strides: unknown key \(did you mean 'stride'\?\)"),
    ({"pool": "average"}, None, r"model\.pool: expected one of: max, avg"),
    ({"initializer": "he"}, None, r"model\.initializer: expected one of"),
    ({"architecture": "cnm"}, None, r"model\.architecture: unknown architecture 'cnm' \(did you mean 'cnn'\?\)"),
])
def test_bad_options_name_the_key(model, dataset, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_cfg({"architecture": "cnn", **model}, dataset)


def test_option_that_does_not_fit_the_data_names_both_keys():
    cfg = make_cfg({"architecture": "cnn", "filters": [8, 8, 8, 8], "pool_size": 2})
    with pytest.raises(ConfigError, match=r"model\.pool_size=2 .*block 4.*dataset\.name: digits"):
        build_model(cfg, image_bundle(size=8))
