"""RNN family: images as rows, numeric sequences and text; round trips and bad options."""

from __future__ import annotations

import pytest

from aimodel.errors import ConfigError
from aimodel.models.factory import build_model
from tests._models_support import image_bundle, make_cfg, sequence_bundle, step_save_reload, table_bundle, text_bundle


def test_stacked_bidirectional_lstm_reads_image_rows(tmp_path):
    cfg = make_cfg({"architecture": "rnn", "cell": "LSTM", "units": [6, 4], "bidirectional": True,
                    "dropout": 0.1, "l1": 1e-4, "dense": [8], "dense_dropout": 0.2})
    bundle = image_bundle(n=24, size=8)
    model = build_model(cfg, bundle)
    assert tuple(model.get_layer("rows").output.shape) == (None, 8, 8)  # 8 steps of 8×1 pixels
    assert tuple(model.get_layer("bidirectional1").output.shape) == (None, 8, 12)  # sequences to layer 2
    assert tuple(model.get_layer("bidirectional2").output.shape) == (None, 8)  # final state, both ways
    assert len(model.losses) == 5  # L1 on 4 LSTM kernels (2 layers × 2 directions) + dense1
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


def test_gru_on_numeric_sequences_with_mean_pooling(tmp_path):
    cfg = make_cfg({"architecture": "rnn", "cell": "GRU", "units": [8], "pooling": "mean",
                    "recurrent_dropout": 0.1, "initializer": "orthogonal"})
    bundle = sequence_bundle()
    model = build_model(cfg, bundle)
    norm = model.get_layer("normalize")
    assert abs(float(norm.mean.numpy().mean()) - float(bundle.train.x.mean())) < 1e-3  # adapted on train
    assert tuple(model.get_layer("mean_pool").output.shape) == (None, 8)
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


def test_simple_rnn_learns_generated_sentences(tmp_path):
    """Raw strings in: TextVectorization and a masked embedding travel inside the saved model."""
    cfg = make_cfg({"architecture": "rnn", "cell": "SimpleRNN", "units": [16], "embedding_dim": 16,
                    "pooling": "max"}, learning_rate=0.01)
    bundle = text_bundle()
    model = build_model(cfg, bundle)
    assert bundle.spec.vocab_size == model.get_layer("vectorize").vocabulary_size() > 10
    assert model.get_layer("embedding").input_dim == bundle.spec.vocab_size
    history, _ = step_save_reload(model, bundle, tmp_path, epochs=15, steps=None, training=cfg.training)
    assert history.history["accuracy"][-1] >= 0.9, history.history["accuracy"]


@pytest.mark.parametrize("model, pattern", [
    ({"cell": "lstm"}, r"model\.cell: expected one of: LSTM, GRU, SimpleRNN; got 'lstm'"),
    ({"units": []}, r"model\.units: expected at least one item"),
    ({"recurrent_dropout": 1.0}, r"model\.recurrent_dropout: must be < 1"),
    ({"unit": [8]}, r"model\.unit: unknown key \(did you mean 'units'\?\)"),
])
def test_bad_options_name_the_key(model, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_cfg({"architecture": "rnn", **model})


def test_rnn_rejects_tables_naming_both_keys():
    cfg = make_cfg({"architecture": "rnn"})
    with pytest.raises(ConfigError, match=r"model\.architecture: 'rnn' does not take tabular data \(dataset\.name: digits\)"):
        build_model(cfg, table_bundle())
