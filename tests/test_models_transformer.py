"""Transformer family: ViT on images, text with masked padding, custom layers, bad options."""

from __future__ import annotations

import numpy as np
import pytest

from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg, sequence_bundle, step_save_reload, text_bundle

TINY = {"architecture": "transformer", "embed_dim": 8, "num_heads": 2, "ff_dim": 16, "num_layers": 2}


def test_vit_on_images_with_class_token(tmp_path):
    cfg = make_cfg({**TINY, "patch_size": 4, "pooling": "cls", "norm": "post", "l2": 1e-4})
    bundle = image_bundle(n=24, size=8)
    model = build_model(cfg, bundle)
    assert tuple(model.get_layer("patches").output.shape) == (None, 4, 8)  # (8/4)² patches
    assert tuple(model.get_layer("class_token").output.shape) == (None, 5, 8)
    assert "final_norm" not in [x.name for x in model.layers]  # post-norm blocks end normalized
    assert model.get_layer("encoder1").attention.num_heads == 2
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


def test_text_transformer_learns_generated_sentences(tmp_path):
    cfg = make_cfg({**TINY, "num_layers": 1, "dropout": 0.0, "pooling": "mean"}, learning_rate=0.01)
    bundle = text_bundle()
    model = build_model(cfg, bundle)
    assert model.get_layer("token_embedding").input_dim == bundle.spec.vocab_size
    history, _ = step_save_reload(model, bundle, tmp_path, epochs=12, steps=None, training=cfg.training)
    assert history.history["accuracy"][-1] >= 0.9, history.history["accuracy"]


def test_sequence_transformer_round_trip(tmp_path):
    cfg = make_cfg({**TINY, "num_layers": 1, "key_dim": 3, "pooling": "max"})
    bundle = sequence_bundle()
    model = build_model(cfg, bundle)
    assert model.get_layer("encoder1").key_dim == 3
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


def test_padding_changes_nothing():
    """Padded positions are masked out of attention and pooling: more padding, same output."""
    import keras

    from aimodel.models.layers import ClassToken, PositionEmbedding, SequencePool, TransformerBlock

    keras.utils.set_random_seed(0)
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(ids)
    x = PositionEmbedding(10)(ClassToken()(x))
    for norm_first in (True, False):
        x = TransformerBlock(num_heads=2, key_dim=4, ff_dim=8, norm_first=norm_first)(x)
    means = keras.Model(ids, [SequencePool("mean")(x), SequencePool("max")(x), SequencePool("first")(x)])
    short = means.predict(np.array([[5, 6, 7, 0]]), verbose=0)
    long = means.predict(np.array([[5, 6, 7, 0, 0, 0, 0, 0]]), verbose=0)
    for a, b in zip(short, long):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_patch_larger_than_the_image_names_both_keys():
    cfg = make_cfg({**TINY, "patch_size": 16})
    with pytest.raises(ConfigError, match=r"model\.patch_size=16 is larger than the 8×8×1 images.*dataset\.name: digits"):
        build_model(cfg, image_bundle(size=8))
    cfg = make_cfg({**TINY, "patch_size": 3})
    with pytest.raises(ConfigError, match=r"model\.patch_size=3 does not divide"):
        build_model(cfg, image_bundle(size=8))


@pytest.mark.parametrize("model, pattern", [
    ({"embed_dim": 10, "num_heads": 4}, r"model.*model\.embed_dim=10 is not divisible by model\.num_heads=4"),
    ({"norm": "layer"}, r"model\.norm: expected one of: pre, post"),
    ({"pooling": "CLS"}, r"model\.pooling: expected one of: mean, max, cls; got 'CLS'"),
    ({"num_layers": 0}, r"model\.num_layers: must be ≥ 1"),
])
def test_bad_options_name_the_key(model, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_cfg({**TINY, **model})


def test_sine_position_encoding_is_the_textbook_signal():
    """sin(p / 10000^(2i/d)) on even channels, cos on odd ones, added to the input; padding masks pass."""
    import keras

    from aimodel.models.layers import SinePositionEncoding

    dim, length = 6, 5
    out = np.asarray(SinePositionEncoding()(np.zeros((1, length, dim), "float32")))[0]
    p, i = np.arange(length)[:, None], np.arange(dim)[None, :]
    angle = p / np.power(10000.0, (2 * (i // 2)) / dim)
    np.testing.assert_allclose(out, np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), atol=1e-6)
    layer = SinePositionEncoding()
    mask = np.array([[True, True, False]])
    assert np.asarray(layer.compute_mask(np.zeros((1, 3, 4)), mask)).tolist() == mask.tolist()
    assert keras.layers.deserialize(keras.layers.serialize(layer)).__class__ is SinePositionEncoding


@pytest.mark.parametrize("position", ["sinusoidal", "none"])
def test_text_position_options_save_reload_and_order(tmp_path, position):
    """`model.position_embedding`: sinusoidal has no weights; none makes the encoder a bag of tokens
    (permuting a sentence's tokens changes nothing), and both models reload to the same outputs."""
    cfg = make_cfg({**TINY, "num_layers": 1, "position_embedding": position})
    bundle = text_bundle()
    model = build_model(cfg, bundle)
    names = [layer.name for layer in model.layers]
    assert "position_embedding" not in names
    assert ("position_encoding" in names) == (position == "sinusoidal")
    step_save_reload(model, bundle, tmp_path, training=cfg.training)
    words = str(bundle.train.x[0]).split()
    assert len(set(words)) > 2
    a, b = (model.predict(np.array([" ".join(w)], dtype=object), verbose=0) for w in (words, words[::-1]))
    if position == "none":
        np.testing.assert_allclose(a, b, atol=1e-5)
    else:
        assert np.abs(a - b).max() > 1e-6
