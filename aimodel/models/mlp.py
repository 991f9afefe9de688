"""Multi-layer perceptrons: dense layers for tables (and flattened images or sequences)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aimodel.models.common import Activation, ModelBase, weight_kwargs
from aimodel.models.registry import ARCHITECTURES

PositiveInt = Annotated[int, Field(ge=1)]


class MlpModel(ModelBase):
    """Dense → [batch norm] → activation → [dropout], once per entry of ``units``."""

    architecture: Literal["mlp"] = "mlp"
    units: list[PositiveInt] = Field([128, 64], description="Units of each hidden layer.")
    activation: Activation = Field("relu", description="Activation of the hidden layers.")
    batch_norm: bool = Field(False, description="Batch normalization before each activation.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after each hidden layer.")


@ARCHITECTURES.register("mlp")
def build_mlp(x, cfg: MlpModel, spec):
    from keras import layers

    if len(x.shape) > 2:
        x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.units):
        n = i + 1
        x = layers.Dense(units, use_bias=not cfg.batch_norm, name=f"dense{n}", **weight_kwargs(cfg))(x)
        if cfg.batch_norm:
            x = layers.BatchNormalization(name=f"bn{n}")(x)
        x = layers.Activation(cfg.activation, name=f"act{n}")(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout{n}")(x)
    return x


build_mlp.kinds = ("tabular", "image", "sequence")
