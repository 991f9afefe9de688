"""Options every architecture shares: weight regularization and initializers.

Each family's config class inherits :class:`ModelBase`, and its builder passes
``weight_kwargs(cfg)`` to every layer that owns a kernel, so ``l1``, ``l2`` and
``initializer`` mean the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import Field

from aimodel.errors import ConfigError
from aimodel.section import Section

Activation = Literal["relu", "gelu", "swish", "elu", "tanh", "selu"]
Initializer = Literal[
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "orthogonal",
]


class ModelBase(Section):
    """Keys shared by every ``model.architecture``."""

    architecture: str = Field(..., description="Which network builder to use.")
    l1: float = Field(0.0, ge=0, description="L1 penalty on every hidden layer's kernel weights (0 = off).")
    l2: float = Field(0.0, ge=0, description="L2 penalty on every hidden layer's kernel weights (0 = off).")
    initializer: Initializer = Field(
        "glorot_uniform", description="How kernel weights start (he_* suit relu networks)."
    )

    def classifier_head(self) -> "Optional[ClassifierHead]":
        """The dense layers the factory puts between this family's features and the softmax, if any."""
        return None


@dataclass(frozen=True)
class ClassifierHead:
    """Dense layers (dropout before each, and before the classifier) on top of an architecture's features."""

    units: tuple[int, ...]
    dropout: float
    activation: str


def weight_kwargs(cfg: ModelBase) -> dict:
    """``kernel_initializer`` and ``kernel_regularizer`` for a layer, from the config.

    Built-in initializers and regularizers only, so saved models load in safe mode.
    """
    import keras

    kwargs = {"kernel_initializer": cfg.initializer}
    if cfg.l1 or cfg.l2:
        kwargs["kernel_regularizer"] = keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)
    return kwargs


def classifier_head(x, head: ClassifierHead, cfg: ModelBase):
    """The head's dense layers (dropout before each) and the dropout before the classifier."""
    from keras import layers

    for k, n in enumerate(head.units):
        if head.dropout:
            x = layers.Dropout(head.dropout, name=f"dropout{k + 1}")(x)
        x = layers.Dense(n, activation=head.activation, name=f"dense{k + 1}", **weight_kwargs(cfg))(x)
    if head.dropout:
        x = layers.Dropout(head.dropout, name="dropout_head")(x)
    return x


def describe_shape(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def require(condition: bool, message: str) -> None:
    """Raise a ConfigError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
