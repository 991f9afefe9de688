"""scikit-learn's bundled 8×8 handwritten digits: real data, no download."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aimodel.data.base import DATASETS, DatasetBase, finish_bundle, stratified_split
from aimodel.data.options import ImageOptions, apply_image_options


class DigitsDataset(ImageOptions, DatasetBase):
    """1,797 8×8 grayscale digits (UCI), shipped inside scikit-learn."""

    name: Literal["digits"] = "digits"
    test_split: float = Field(
        0.2, gt=0.0, lt=1.0, description="Fraction held out as the test split (stratified, seeded)."
    )


@DATASETS.register("digits")
def load_digits(cfg: DigitsDataset, seed: int):
    import numpy as np
    from sklearn.datasets import load_digits as sk_load_digits

    raw = sk_load_digits()
    # Pixels are 0..16; bring them to the 0..255 convention of every image source.
    x = np.clip(np.rint(raw.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = raw.target.astype(np.int64)
    train, test = stratified_split(x, y, cfg.test_split, seed, "dataset.test_split")
    names = [str(i) for i in range(10)]
    bundle = finish_bundle(train, test, names, cfg.validation_split, seed)
    apply_image_options(bundle, cfg)
    return bundle
