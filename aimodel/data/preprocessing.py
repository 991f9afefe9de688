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
    """Raw pixels (0..255, float32) in; scaled to 0..1 inside the model."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=bundle.spec.shape, name="image")
    return inputs, layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)


def build_inputs(bundle: DataBundle, cfg):
    return INPUTS.get(bundle.spec.kind)(bundle, cfg)
