"""Shared fixtures: tiny configs on offline data, hand-built text/tabular runs, and one trained run reused by many tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny",
    "seed": 7,
    "dataset": {"name": "digits", "test_split": 0.2, "validation_split": 0.1},
    "model": {"architecture": "cnn", "filters": [8], "dense": [16]},
    "training": {"epochs": 2, "batch_size": 32},
}


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A digits config that trains in about a second."""
    return write_config(tmp_path / "tiny.yaml", TINY)


def _save_run(model, folder: Path, spec: dict) -> Path:
    folder.mkdir()
    model.save(folder / "best.keras")
    (folder / "meta.json").write_text(json.dumps({"input": spec}))
    return folder


@pytest.fixture(scope="session")
def text_run(tmp_path_factory) -> Path:
    """Raw strings in (TextVectorization inside), one sigmoid unit out: 'good' → pos, 'bad' → neg."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(1,), dtype="string", name="text")
    tokens = layers.TextVectorization(output_sequence_length=6, vocabulary=["good", "bad", "movie"])(inputs)
    embed = layers.Embedding(5, 1)
    dense = layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(layers.GlobalAveragePooling1D()(embed(tokens))))
    weights = np.zeros((5, 1), np.float32)
    weights[2], weights[3] = 30.0, -30.0  # ids 0 pad, 1 OOV, 2 good, 3 bad
    embed.set_weights([weights])
    dense.set_weights([np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
    spec = {"kind": "text", "shape": [], "class_names": ["neg", "pos"], "text_column": "review"}
    return _save_run(model, tmp_path_factory.mktemp("text") / "run", spec)


@pytest.fixture(scope="session")
def tabular_run(tmp_path_factory) -> Path:
    """A dict of raw columns in: numeric 'size' (positive → big) and categorical 'colour' (blue → big)."""
    import keras
    from keras import layers

    size = keras.Input(shape=(1,), name="size")
    colour = keras.Input(shape=(1,), dtype="string", name="colour")
    onehot = layers.StringLookup(vocabulary=["red", "blue"], output_mode="one_hot")(colour)  # [oov, red, blue]
    dense = layers.Dense(2, activation="softmax")
    model = keras.Model({"size": size, "colour": colour}, dense(layers.Concatenate()([size, onehot])))
    kernel = np.zeros((4, 2), np.float32)
    kernel[0] = [-3.0, 3.0]  # size
    kernel[3] = [-2.0, 2.0]  # blue
    dense.set_weights([kernel, np.zeros(2, np.float32)])
    spec = {"kind": "tabular", "shape": [2], "class_names": ["small", "big"], "columns": ["size", "colour"]}
    return _save_run(model, tmp_path_factory.mktemp("tabular") / "run", spec)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One finished quickstart-like run (CliRunner, in-process), shared by read-only tests."""
    from click.testing import CliRunner

    from aimodel.cli import main

    tmp = tmp_path_factory.mktemp("trained")
    cfg = dict(TINY, training={"epochs": 6, "batch_size": 32, "learning_rate": 0.003},
               model={"architecture": "cnn", "filters": [16], "dense": [32]})
    config = write_config(tmp / "tiny.yaml", cfg)
    result = CliRunner().invoke(main, ["train", str(config), "--runs-root", str(tmp / "runs"), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1])
    assert run_dir.is_dir()
    return run_dir


def write_npz(path: Path, n_train: int = 120, n_test: int = 40, size: int = 12, classes: int = 3, **override):
    """A small npz in Keras' mnist.npz layout: class k is a bright square in corner k."""
    rng = np.random.default_rng(0)

    def make(n):
        y = np.arange(n) % classes
        x = rng.integers(0, 40, size=(n, size, size)).astype(np.uint8)
        h = size // 2
        for i, k in enumerate(y):
            r, c = divmod(int(k), 2)
            x[i, r * h : r * h + h, c * h : c * h + h] = 220
        return x, y.astype(np.uint8)

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path
