"""The typed config: YAML is validated once into these objects, then trusted.

Variant sections are picked by a tag: ``dataset.name`` and ``model.architecture``.
Each variant's class lives beside the code that uses it (``aimodel/data/*.py``,
``aimodel/models/*.py``) and is listed here once.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from aimodel.config.base import Section
from aimodel.data.digits import DigitsDataset
from aimodel.data.keras_datasets import MnistDataset
from aimodel.data.npz import NpzDataset
from aimodel.models.cnn import CnnModel

DatasetConfig = Annotated[
    Union[DigitsDataset, MnistDataset, NpzDataset],
    Field(discriminator="name", description="Where the data comes from; `name` picks the source."),
]
ModelConfig = Annotated[
    Union[CnnModel],
    Field(discriminator="architecture", description="The network; `architecture` picks the builder."),
]


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


class Config(Section):
    """A whole aimodel run: data, model and training."""

    name: str = Field(
        ...,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Run name; runs are saved under runs/<name>/<n>. Defaults to the file name.",
    )
    seed: int = Field(42, ge=0, description="Seed for splits, weights and shuffling.")
    dataset: DatasetConfig
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
