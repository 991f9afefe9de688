"""Model-side input preprocessing, one builder per data kind.

Whatever training did to raw inputs lives in these Keras layers inside the
saved model (adapted on the training split only), so predict feeds raw pixels,
raw strings or raw table cells and needs nothing else.
"""

from __future__ import annotations

from typing import Callable

from aimodel.data.base import DataBundle
from aimodel.registry import Registry

#: data kind -> builder(bundle, cfg) -> (keras inputs, preprocessed tensor)
INPUTS: Registry[Callable] = Registry("input kind")


@INPUTS.register("image")
def image_inputs(bundle: DataBundle, cfg):
    """Raw pixels (0..255, float32) in; augmented (training only), then scaled or standardized.

    ``dataset.augment`` adds seeded random flip/rotation/zoom/translation/contrast
    layers, which Keras runs only while training; ``dataset.normalize:
    standardize`` uses per-channel mean and variance measured on the training split.
    """
    import keras
    from keras import layers

    options = cfg.dataset
    inputs = keras.Input(shape=bundle.spec.shape, name="image")
    x = inputs
    augment = getattr(options, "augment", None)
    if augment is not None and augment.active:
        for layer in augmentation_layers(augment, cfg.seed):
            x = layer(x)
    takes_raw = getattr(cfg.model, "takes_raw_pixels", None)
    if takes_raw is not None and takes_raw():
        return inputs, x  # a pretrained backbone prepares its pixels itself (aimodel.models.pretrained)
    if getattr(options, "normalize", "scale") == "standardize":
        mean, variance = channel_stats(bundle.train.x, cfg.seed)
        x = layers.Normalization(mean=mean, variance=variance, name="standardize")(x)
    else:
        x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    return inputs, x


def augmentation_layers(augment, seed: int) -> list:
    """Keras preprocessing layers for ``dataset.augment``, on raw 0..255 pixels, each seeded."""
    from keras import layers

    out = []
    if augment.flip:
        out.append(layers.RandomFlip(augment.flip, seed=seed, name="augment_flip"))
    if augment.rotation:
        out.append(layers.RandomRotation(augment.rotation, seed=seed + 1, name="augment_rotation"))
    if augment.zoom:
        out.append(layers.RandomZoom(augment.zoom, seed=seed + 2, name="augment_zoom"))
    if augment.translation:
        out.append(layers.RandomTranslation(augment.translation, augment.translation, seed=seed + 3,
                                            name="augment_translation"))
    if augment.contrast:
        out.append(layers.RandomContrast(augment.contrast, value_range=(0, 255), seed=seed + 4,
                                         name="augment_contrast"))
    return out


#: Standardization statistics come from at most this many training images (a seeded sample).
STATS_SAMPLE = 10_000


def channel_stats(x, seed: int):
    """Per-channel mean and variance of training images (uint8 array or ImageFiles), in float64."""
    import numpy as np

    n = len(x)
    idx = np.arange(n)
    if n > STATS_SAMPLE:
        idx = np.sort(np.random.default_rng(seed).choice(n, STATS_SAMPLE, replace=False))
    channels = x.shape[-1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    count = 0
    for start in range(0, len(idx), 1024):
        part = idx[start : start + 1024]
        batch = x.load(part) if hasattr(x, "load") else x[part]
        batch = batch.astype(np.float64).reshape(-1, channels)
        total += batch.sum(axis=0)
        total_sq += (batch**2).sum(axis=0)
        count += len(batch)
    mean = total / count
    variance = np.maximum(total_sq / count - mean**2, 1e-6)
    return mean.tolist(), variance.tolist()


def build_inputs(bundle: DataBundle, cfg):
    return INPUTS.get(bundle.spec.kind)(bundle, cfg)
