"""Local ``.npz`` files in the layout of Keras' own ``mnist.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, absolute_path, finish_bundle, to_images, to_labels
from aimodel.data.options import ImageOptions, apply_image_options
from aimodel.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class NpzDataset(ImageOptions, DatasetBase):
    """An ``.npz`` with ``x_train, y_train, x_test, y_test`` (images, integer labels)."""

    name: Literal["npz"] = "npz"
    path: FilePath = Field(..., description="Path to the .npz file (relative to the working directory).")
    class_names: Optional[list[str]] = Field(
        None, description="Names of classes 0..N-1; defaults to the label numbers."
    )

    _abs = field_validator("path")(absolute_path)


def read_npz(path: Path, class_names: Optional[list[str]], validation_split: float, seed: int):
    """Load the four arrays, check them and build the bundle."""
    import zipfile

    import numpy as np

    try:
        if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and blame "pickled data"
            raise DataError(f"{path}: not a readable .npz file (not a zip archive of arrays, as numpy.savez writes)")
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(f.files) or 'none'} "
                    f"(expected {', '.join(NPZ_KEYS)})"
                )
            arrays = {k: f[k] for k in NPZ_KEYS}
    except DataError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled objects), OSError
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    train = Split(to_images(arrays["x_train"], f"{path}: x_train"), to_labels(arrays["y_train"], f"{path}: y_train"))
    test = Split(to_images(arrays["x_test"], f"{path}: x_test"), to_labels(arrays["y_test"], f"{path}: y_test"))
    for name, split in (("train", train), ("test", test)):
        if len(split.x) != len(split.y):
            raise DataError(f"{path}: x_{name} has {len(split.x)} samples but y_{name} has {len(split.y)}")
    if train.x.shape[1:] != test.x.shape[1:]:
        raise DataError(f"{path}: x_train images are {train.x.shape[1:]} but x_test images are {test.x.shape[1:]}")
    n_classes = int(max(train.y.max(), test.y.max())) + 1
    if class_names is None:
        class_names = [str(i) for i in range(n_classes)]
    elif len(class_names) < n_classes:
        raise DataError(
            f"dataset.class_names has {len(class_names)} names but the labels go up to {n_classes - 1}"
        )
    return finish_bundle(train, test, list(class_names), validation_split, seed)


@DATASETS.register("npz")
def load_npz(cfg: NpzDataset, seed: int):
    bundle = read_npz(cfg.path, cfg.class_names, cfg.validation_split, seed)
    apply_image_options(bundle, cfg)
    return bundle
