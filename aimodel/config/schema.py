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
from aimodel.data.series import TimeseriesDataset
from aimodel.data.tables import CsvDataset
from aimodel.models.cnn import CnnModel
from aimodel.models.mlp import MlpModel
from aimodel.models.pretrained import PretrainedModel
from aimodel.models.rnn import RnnModel
from aimodel.models.transformer import TransformerModel
from aimodel.search.config import SearchConfig
from aimodel.section import Section, rule
from aimodel.tasks import TASKS, TaskName
from aimodel.training.config import TrainingConfig

DatasetConfig = Annotated[
    Union[
        DigitsDataset, MnistDataset, NpzDataset, FashionMnistDataset, Cifar10Dataset, Cifar100Dataset,
        ImdbDataset, ReutersDataset, ImageFolderDataset, TextFolderDataset, CsvDataset, TimeseriesDataset,
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
    task: TaskName = Field(
        "classification", description="What the model answers: classification (one class of N), regression "
        "(numbers: dataset.label names the target column(s); dataset.name: timeseries forecasts), multilabel "
        "(a set of labels per sample, separated by dataset.label_separator in the label column). Default: "
        "classification, or the one task the dataset gives (timeseries: regression).",
    )
    dataset: DatasetConfig
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    search: Optional[SearchConfig] = Field(
        None, description="Hyperparameter search for `aimodel tune` (ignored by `aimodel train`).")

    @model_validator(mode="after")
    def _task_rules(self):
        check_task(self)
        return self

    @model_validator(mode="after")
    def _pretrained_rules(self):
        from aimodel.models.pretrained import check_config

        check_config(self)
        return self


def check_task(cfg: "Config") -> None:
    """The rules ``task`` sets for the dataset, the model and training; fills the task's default monitor."""
    supported = getattr(type(cfg.dataset), "tasks", ("classification",))
    if "task" not in cfg.model_fields_set and cfg.task not in supported and len(supported) == 1:
        cfg.task = supported[0]  # task: not given, and the dataset gives one kind of label (timeseries)
    task = TASKS.get(cfg.task)
    if cfg.task not in supported:
        raise rule("task", f"{cfg.task}: dataset.name {cfg.dataset.name} gives {' or '.join(supported)} labels "
                           f"only; for {cfg.task} use dataset.name: csv (a table, a text column or image paths)"
                           + (" or timeseries" if cfg.task == "regression" else ""))
    model_tasks = getattr(type(cfg.model), "tasks", tuple(TASKS))
    if cfg.task not in model_tasks:
        raise rule("task", f"{cfg.task}: model.architecture {cfg.model.architecture} cannot do it; it does "
                           f"{', '.join(model_tasks)}")
    t = cfg.training
    if "monitor" not in t.model_fields_set and t.monitor != task.monitor:
        t.monitor = task.monitor
    allowed = task.monitors()
    if t.monitor not in allowed:
        raise rule("training.monitor", f"{t.monitor} is not recorded for task: {cfg.task}; use one of "
                                       f"{', '.join(m for m in allowed if m.startswith('val_'))}")
    if t.early_stopping is not None and t.early_stopping.monitor and t.early_stopping.monitor not in allowed:
        raise rule("training.early_stopping.monitor", f"{t.early_stopping.monitor} is not recorded for task: "
                                                      f"{cfg.task}; use one of {', '.join(allowed)}")
    search = cfg.search
    if search is not None:
        if "objective" not in search.model_fields_set and search.objective != task.monitor:
            search.objective = task.monitor
        if search.objective not in allowed:
            raise rule("search.objective", f"{search.objective} is not recorded for task: {cfg.task}; use one of "
                                           f"{', '.join(allowed)}")
    if t.loss is not None and cfg.task != "regression":
        raise rule("training.loss", f"sets the regression loss; task: {cfg.task} uses {task.losses[0]} "
                                    "(remove training.loss)")
    if t.threshold is not None and cfg.task != "multilabel":
        raise rule("training.threshold", f"sets the multilabel decision threshold; task: {cfg.task} has none "
                                         "(remove training.threshold)")
    if cfg.task != "classification":
        if t.label_smoothing:
            raise rule("training.label_smoothing", f"applies to task: classification only, not {cfg.task}")
        if t.class_weight is not None:
            raise rule("training.class_weight", f"applies to task: classification only, not {cfg.task}")
