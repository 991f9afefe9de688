"""Tiny generated data and a build → one step → save → reload check, shared by test_models_*."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aimodel.config import config_from_dict
from aimodel.data.base import DataBundle, Split
from aimodel.data.spec import InputSpec

GOOD = ["great", "wonderful", "superb", "lovely", "brilliant"]
BAD = ["awful", "boring", "dreadful", "dull", "terrible"]
FILLER = ["the", "film", "was", "really", "and", "plot", "acting", "quite", "a", "story"]


def make_cfg(model: dict, dataset: dict | None = None, **training):
    """A validated config around a model section (the dataset section only names the source)."""
    training = {"epochs": 1, "batch_size": 8, "steps_per_execution": 1, **training}
    return config_from_dict({"name": "t", "seed": 3, "dataset": dataset or {"name": "digits"},
                             "model": model, "training": training})


def _bundle(x, y, spec, n_test=8):
    idx = np.arange(len(y))
    test = Split({k: v[idx[:n_test]] for k, v in x.items()} if isinstance(x, dict) else x[:n_test], y[:n_test])
    return DataBundle(train=Split(x, y), val=None, test=test, spec=spec)


def image_bundle(n=32, size=8, channels=1, classes=3):
    """Class k is a bright block in corner k on noise (uint8 0..255)."""
    rng = np.random.default_rng(0)
    y = (np.arange(n) % classes).astype(np.int64)
    x = rng.integers(0, 60, size=(n, size, size, channels)).astype(np.uint8)
    h = size // 2
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, r * h:r * h + h, c * h:c * h + h] = 230
    return _bundle(x, y, InputSpec("image", (size, size, channels), [f"c{k}" for k in range(classes)]))


def sentences(n=48, seed=0):
    """Generated reviews: label 1 holds a positive word, label 0 a negative one, amid filler."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    texts = []
    for k in y:
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 9))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(GOOD if k else BAD)))
        texts.append(" ".join(words).capitalize() + rng.choice([".", "!", "..."]))
    return np.array(texts, dtype=object), y


def text_bundle(n=48, sequence_length=12):
    x, y = sentences(n)
    spec = InputSpec("text", (), ["negative", "positive"])
    spec.sequence_length, spec.max_tokens = sequence_length, 200
    return _bundle(x, y, spec)


def sequence_bundle(n=32, steps=10, features=3):
    """Class 1 sequences drift upward, class 0 downward."""
    rng = np.random.default_rng(1)
    y = (np.arange(n) % 2).astype(np.int64)
    trend = np.where(y[:, None, None] == 1, 1.0, -1.0) * np.linspace(0, 2, steps)[None, :, None]
    x = (rng.normal(size=(n, steps, features)) * 0.3 + trend + 5.0).astype(np.float32)
    return _bundle(x, y, InputSpec("sequence", (steps, features), ["down", "up"]))


def table_bundle(n=40):
    rng = np.random.default_rng(2)
    age = rng.normal(40, 12, n).astype(np.float32)
    x = {"age": age, "income k$": rng.normal(50, 10, n).astype(np.float32),
         "city": np.array(rng.choice(["Lyon", "Oslo", "New York"], n), dtype=object)}
    y = (age > 40).astype(np.int64)
    spec = InputSpec("tabular", (3,), ["young", "old"])
    spec.columns = [{"name": "age", "type": "numeric"}, {"name": "income k$", "type": "numeric"},
                    {"name": "city", "type": "categorical"}]
    return _bundle(x, y, spec)


def dataset(split: Split, batch_size=8):
    import tensorflow as tf

    x = split.x
    if not isinstance(x, dict) and x.dtype == np.uint8:
        x = x.astype(np.float32)
    if not isinstance(x, dict) and x.dtype == object:
        x = x.astype(str)
    if isinstance(x, dict):
        x = {k: (v.astype(str) if v.dtype == object else v) for k, v in x.items()}
    return tf.data.Dataset.from_tensor_slices((x, split.y)).batch(batch_size)


def step_save_reload(model, bundle: DataBundle, tmp_path: Path, epochs: int = 1, steps: int | None = 1, training=None):
    """Compile as the runner does, train (one step by default), save, reload in safe mode; assert identical predictions."""
    import keras

    from aimodel.training.config import TrainingConfig
    from aimodel.training.optim import compile_model

    compile_model(model, training or TrainingConfig())  # the factory returns an uncompiled model; training owns compile
    train = dataset(bundle.train)
    history = model.fit(train.take(steps) if steps else train, epochs=epochs, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    test = dataset(bundle.test).map(lambda x, y: x)
    before, after = model.predict(test, verbose=0), reloaded.predict(test, verbose=0)
    assert before.shape == (len(bundle.test), bundle.num_classes)
    np.testing.assert_allclose(before, after, rtol=0, atol=1e-6)
    return history, reloaded
