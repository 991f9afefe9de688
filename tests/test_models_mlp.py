"""MLP family and the tabular inputs: one input per column, standardized or one-hot."""

from __future__ import annotations

import numpy as np
import pytest

from aimodel.errors import ConfigError, DataError
from aimodel.models.factory import build_model
from tests._models_support import dataset, image_bundle, make_cfg, step_save_reload, table_bundle, text_bundle


def test_mlp_on_a_table_with_numeric_and_string_columns(tmp_path):
    cfg = make_cfg({"architecture": "mlp", "units": [8, 4], "batch_norm": True, "dropout": 0.1, "l2": 1e-3})
    bundle = table_bundle()
    model = build_model(cfg, bundle)
    assert sorted(model.input) == ["age", "city", "income k$"]  # raw column names are the input keys
    assert tuple(model.get_layer("features").output.shape) == (None, 1 + 1 + 4)  # 3 cities + unseen
    _, reloaded = step_save_reload(model, bundle, tmp_path, training=cfg.training)
    unseen = {"age": np.array([30.0], np.float32), "income k$": np.array([50.0], np.float32),
              "city": np.array(["Paris"])}  # a city never seen in training goes to the OOV slot
    import tensorflow as tf

    out = reloaded({k: tf.constant(v) for k, v in unseen.items()}).numpy()
    assert out.shape == (1, 2) and np.isfinite(out).all()


def test_mlp_flattens_images(tmp_path):
    cfg = make_cfg({"architecture": "mlp", "units": [16], "activation": "tanh"})
    bundle = image_bundle(n=16, size=8)
    model = build_model(cfg, bundle)
    assert tuple(model.get_layer("flatten").output.shape) == (None, 64)
    step_save_reload(model, bundle, tmp_path, training=cfg.training)


def test_numeric_column_with_missing_values_is_filled_and_infinity_is_a_data_error():
    bundle = table_bundle()
    bundle.train.x["age"][3] = np.nan  # missing: filled inside the model, with a was-missing input
    model = build_model(make_cfg({"architecture": "mlp"}), bundle)
    fill = model.get_layer("fill_age")
    assert fill.indicator and fill.value == float(np.nanmedian(bundle.train.x["age"]))
    bundle.train.x["age"][3] = np.inf
    with pytest.raises(DataError, match="column 'age' has infinite values"):
        build_model(make_cfg({"architecture": "mlp"}), bundle)


def test_mlp_rejects_text_naming_both_keys():
    with pytest.raises(ConfigError, match=r"model\.architecture: 'mlp' does not take text data"):
        build_model(make_cfg({"architecture": "mlp"}), text_bundle())


def test_bad_option_names_the_key():
    with pytest.raises(ConfigError, match=r"model\.units\[0\]: must be ≥ 1"):
        make_cfg({"architecture": "mlp", "units": [0]})


def test_text_vectorization_inside_the_model_matches_eager_and_tf_data():
    """Same token ids whether the layer runs eagerly or inside tf.data."""
    bundle = text_bundle()
    model = build_model(make_cfg({"architecture": "rnn", "units": [4]}), bundle)
    vectorize = model.get_layer("vectorize")
    eager = vectorize(bundle.test.x.astype(str)).numpy()
    mapped = np.concatenate([b.numpy() for b in dataset(bundle.test).map(lambda x, y: vectorize(x))])
    np.testing.assert_array_equal(eager, mapped)
    assert eager.shape == (len(bundle.test), 12) and (eager[:, 0] > 1).all()  # no leading pad/OOV
