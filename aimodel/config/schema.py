"""The typed config: YAML is validated once into these objects, then trusted.

Variant sections are picked by a tag: ``dataset.name`` and ``model.architecture``.
Each variant's class lives beside the code that uses it (``aimodel/data/*.py``,
``aimodel/models/*.py``) and is listed here once.
"""

from __future__ import annotations

from typing import Annotated, Optional, Union

from pydantic import Field, model_validator

from aimodel.data.digits import DigitsDataset
from aimodel.data.folders import ImageFolderDataset, TextFolderDataset
from aimodel.data.keras_images import Cifar10Dataset, Cifar100Dataset, FashionMnistDataset, MnistDataset
from aimodel.data.keras_text import ImdbDataset, ReutersDataset
from aimodel.data.npz import NpzDataset
from aimodel.data.tables import CsvDataset
from aimodel.models.cnn import CnnModel
from aimodel.models.mlp import MlpModel
from aimodel.models.pretrained import PretrainedModel
from aimodel.models.rnn import RnnModel
from aimodel.models.transformer import TransformerModel
from aimodel.search.config import SearchConfig
from aimodel.section import Section
from aimodel.training.config import TrainingConfig

DatasetConfig = Annotated[
    Union[
        DigitsDataset, MnistDataset, NpzDataset, FashionMnistDataset, Cifar10Dataset, Cifar100Dataset,
        ImdbDataset, ReutersDataset, ImageFolderDataset, TextFolderDataset, CsvDataset,
    ],
    Field(discriminator="name", description="Where the data comes from; `name` picks the source."),
]
ModelConfig = Annotated[
    Union[CnnModel, RnnModel, TransformerModel, MlpModel, PretrainedModel],
    Field(discriminator="architecture", description="The network; `architecture` picks the builder."),
]


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
    search: Optional[SearchConfig] = Field(
        None, description="Hyperparameter search for `aimodel tune` (ignored by `aimodel train`).")

    @model_validator(mode="after")
    def _pretrained_rules(self):
        from aimodel.models.pretrained import check_config

        check_config(self)
        return self
