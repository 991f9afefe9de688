"""CNN family: backward-compatible keys, blocks/stride/residual, round trip, bad options."""

from __future__ import annotations

import pytest

from aimodel.config import load_config
from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg, step_save_reload
from tests.conftest import ROOT

# quickstart.yaml as the foundation built it (name, type, output shape, params), except that each
# relu now follows its max pooling (the same numbers; see test_relu_after_max_pooling_changes_no_number).
QUICKSTART = [
    ("image", "InputLayer", (None, 8, 8, 1), 0), ("rescale", "Rescaling", (None, 8, 8, 1), 0),
    ("block1_conv1", "Conv2D", (None, 8, 8, 32), 320), ("block1_pool", "MaxPooling2D", (None, 4, 4, 32), 0),
    ("block1_act1", "Activation", (None, 4, 4, 32), 0), ("block2_conv1", "Conv2D", (None, 4, 4, 64), 18496),
    ("block2_pool", "MaxPooling2D", (None, 2, 2, 64), 0), ("block2_act1", "Activation", (None, 2, 2, 64), 0),
    ("flatten", "Flatten", (None, 256), 0), ("dropout1", "Dropout", (None, 256), 0),
    ("dense1", "Dense", (None, 128), 32896), ("dropout_head", "Dropout", (None, 128), 0),
    ("predictions", "Dense", (None, 10), 1290),
]


def _layers(model):
    return [(x.name, type(x).__name__, tuple(x.output.shape), x.count_params()) for x in model.layers]


def test_quickstart_config_builds_the_same_network():
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    bundle = image_bundle(n=20, size=8, classes=10)
    assert _layers(build_model(cfg, bundle)) == QUICKSTART


@pytest.mark.parametrize("model_cfg", [
    {"filters": [4, 6], "dense": [8], "padding": "same"},
    {"blocks": [{"filters": 4, "convs": 2, "batch_norm": True}, {"filters": 6, "pool_size": 2}],
     "padding": "same", "dense": [], "head": "global_avg"},
])
def test_relu_after_max_pooling_changes_no_number(model_cfg):
    """The factory applies a block's relu after its max pooling; the same layers in the textbook order
    (relu, then pooling) give bit-identical outputs and gradients, ties and negative windows included."""
    import keras
    import numpy as np
    import tensorflow as tf

    cfg = make_cfg({"architecture": "cnn", **model_cfg})
    model = build_model(cfg, image_bundle(n=16, size=10))
    layers = [x for x in model.layers if not isinstance(x, keras.layers.InputLayer)]
    names = [x.name for x in layers]
    last_act = sorted(n for n in names if n.startswith("block1_act"))[-1]
    assert names.index("block1_pool") < names.index(last_act), names
    textbook, i = [], 0
    while i < len(layers):  # swap each (pool, act) pair back
        if layers[i].name.endswith("_pool") and i + 1 < len(layers) and "_act" in layers[i + 1].name:
            textbook += [layers[i + 1], layers[i]]
            i += 2
        else:
            textbook.append(layers[i])
            i += 1
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for layer in textbook:
        x = layer(x)
    reference = keras.Model(inputs, x)
    rng = np.random.default_rng(1)
    batch = np.round(rng.normal(0, 2000, size=(6, 10, 10, 1)) / 50) * 50  # wide range, ties, negatives
    batch = batch.astype("float32")
    batch[0] = 0.0  # an all-zero image: every window ties
    labels = np.array([0, 1, 2, 0, 1, 2])

    def grads(net):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(labels, net(batch, training=False))
        return [g.numpy() for g in tape.gradient(loss, net.trainable_weights)]

    np.testing.assert_array_equal(model(batch).numpy(), reference(batch).numpy())
    for a, b in zip(grads(model), grads(reference)):
        np.testing.assert_array_equal(a, b)


def test_relu_stays_before_pooling_where_the_order_matters():
    """Average pooling and non-monotonic activations (gelu) keep the textbook order."""
    for model_cfg in ({"filters": [4], "pool": "avg"}, {"filters": [4], "activation": "gelu"}):
        model = build_model(make_cfg({"architecture": "cnn", **model_cfg}), image_bundle(n=8, size=8))
        names = [x.name for x in model.layers]
        assert names.index("block1_act1") < names.index("block1_pool"), names


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
    names = {x.name: x for x in model.layers}
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
