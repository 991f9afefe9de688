"""Shared fixtures: tiny configs on offline data, and one trained run reused by many tests."""

from __future__ import annotations

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
