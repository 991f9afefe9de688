"""Datasets that Keras downloads (``keras.datasets``), with an offline-friendly path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator

from aimodel.data.base import DATASETS, DatasetBase
from aimodel.data.npz import _absolute, read_npz
from aimodel.errors import DataError


def keras_cache_file(fname: str) -> Path:
    """Where ``keras.utils.get_file`` keeps a downloaded dataset file."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets" / fname


class MnistDataset(DatasetBase):
    """MNIST (60,000 + 10,000 28×28 digits) through ``keras.datasets.mnist``."""

    name: Literal["mnist"] = "mnist"
    path: Optional[FilePath] = Field(
        None,
        description="A local mnist.npz (same layout as Keras' download); "
        "by default the Keras cache, downloading if needed.",
    )

    _abs = field_validator("path")(_absolute)


def _download(fname: str, loader_name: str) -> Path:
    cached = keras_cache_file(fname)
    if cached.is_file():
        return cached
    try:
        import keras

        getattr(keras.datasets, loader_name).load_data()
    except Exception as exc:  # URLError, socket errors, "Failed to download"
        raise DataError(
            f"cannot download {fname} for dataset '{loader_name}' "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}). "
            f"If this machine is offline, either copy the file to the Keras cache at {cached} "
            f"or point the config at a local copy with `dataset.path: /path/to/{fname}`"
        ) from None
    return cached


@DATASETS.register("mnist")
def load_mnist(cfg: MnistDataset, seed: int):
    path = cfg.path or _download("mnist.npz", "mnist")
    return read_npz(path, None, cfg.validation_split, seed)
