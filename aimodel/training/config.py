"""The ``training`` section: hyperparameters of the training loop."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aimodel.config.base import Section


class TrainingConfig(Section):
    """Hyperparameters of the training loop."""

    epochs: int = Field(10, ge=1, description="Number of passes over the training split.")
    batch_size: int = Field(32, ge=1, description="Samples per optimizer step.")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="Optimizer.")
    learning_rate: float = Field(1e-3, gt=0, description="Initial learning rate.")
    weight_decay: float = Field(
        0.0, ge=0, description="Decoupled weight decay applied by the optimizer (0 = off)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum for sgd and rmsprop.")
    monitor: Literal["val_accuracy", "val_loss"] = Field(
        "val_accuracy",
        description="Validation metric that picks best.keras (falls back to the training "
        "metric when dataset.validation_split is 0).",
    )
    steps_per_execution: int = Field(
        16,
        ge=1,
        description="Batches run per call into TensorFlow; larger is faster for small models.",
    )
