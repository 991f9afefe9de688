"""Convolutional networks for images."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aimodel.config.base import Section
from aimodel.errors import ConfigError
from aimodel.models.registry import ARCHITECTURES


class CnnModel(Section):
    """Conv blocks (conv → [batch norm] → activation, then pooling), then dense layers.

    ``filters: [32]`` with ``dense: [128]`` and ``padding: valid`` is the classic
    Keras MNIST example.
    """

    architecture: Literal["cnn"] = "cnn"
    filters: list[int] = Field(
        [32, 64], min_length=1, description="Filters of each conv block; one block per entry."
    )
    convs_per_block: int = Field(1, ge=1, description="Conv layers in each block.")
    kernel_size: int = Field(3, ge=1, description="Square kernel size of every conv layer.")
    padding: Literal["same", "valid"] = Field("same", description="Conv padding.")
    pool_size: int = Field(2, ge=1, description="Max-pool size after each block (1 = no pooling).")
    batch_norm: bool = Field(False, description="Batch normalization after each conv.")
    activation: Literal["relu", "gelu", "swish", "elu", "tanh"] = Field("relu", description="Activation.")
    head: Literal["flatten", "global_avg"] = Field(
        "flatten", description="How conv features become a vector."
    )
    dense: list[int] = Field([128], description="Units of the dense layers before the classifier.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before each dense layer and the classifier.")


@ARCHITECTURES.register("cnn")
def build_cnn(x, cfg: CnnModel, spec, training):
    from keras import layers

    if any(f < 1 for f in cfg.filters) or any(u < 1 for u in cfg.dense):
        raise ConfigError("model.filters and model.dense must hold positive numbers")
    height, width = spec.shape[0], spec.shape[1]
    for i, filters in enumerate(cfg.filters):
        for j in range(cfg.convs_per_block):
            if cfg.padding == "valid":
                height, width = height - cfg.kernel_size + 1, width - cfg.kernel_size + 1
            if min(height, width) < 1:
                raise ConfigError(
                    f"model.kernel_size={cfg.kernel_size} with model.padding=valid shrinks the "
                    f"{spec.shape[0]}×{spec.shape[1]} input to nothing in block {i + 1}; "
                    "use padding: same or fewer model.filters blocks"
                )
            x = layers.Conv2D(
                filters, cfg.kernel_size, padding=cfg.padding, use_bias=not cfg.batch_norm,
                name=f"block{i + 1}_conv{j + 1}",
            )(x)
            if cfg.batch_norm:
                x = layers.BatchNormalization(name=f"block{i + 1}_bn{j + 1}")(x)
            x = layers.Activation(cfg.activation, name=f"block{i + 1}_act{j + 1}")(x)
        if cfg.pool_size > 1:
            if min(height, width) < cfg.pool_size:
                raise ConfigError(
                    f"model.pool_size={cfg.pool_size} does not fit the {height}×{width} feature map "
                    f"of block {i + 1} (input {spec.shape[0]}×{spec.shape[1]}); lower model.pool_size "
                    "or use fewer model.filters blocks"
                )
            x = layers.MaxPooling2D(cfg.pool_size, name=f"block{i + 1}_pool")(x)
            height, width = height // cfg.pool_size, width // cfg.pool_size
    if cfg.head == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="global_avg")(x)
    for k, units in enumerate(cfg.dense):
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout{k + 1}")(x)
        x = layers.Dense(units, activation=cfg.activation, name=f"dense{k + 1}")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name="dropout_head")(x)
    return x


build_cnn.kinds = ("image",)
