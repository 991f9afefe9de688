"""What a model answers: the task table (``task:`` at the top of a config).

One :class:`Task` per answer kind. The table says what every layer above needs to
know by name only (no Keras here): the output layer's activation, the metrics a
run records, which way each metric improves, what the checkpoint monitor
defaults to, and the keys ``evaluate --json`` puts at its top level. The
builders that act on it live where they belong: the head in
:mod:`aimodel.models.factory`, losses and metrics in :mod:`aimodel.training.optim`,
reports in :mod:`aimodel.evaluation`, prediction formats in :mod:`aimodel.inference`.

Labels per task (``Split.y``): classification int64 ``(N,)`` class indices;
regression float32 ``(N, T)`` target values in their own unit (``T`` targets, or
``horizon`` steps for a forecast); multilabel float32 ``(N, L)`` 0/1 per label.
``InputSpec.class_names`` names the model's outputs: classes, target columns
(``t+1``... for a forecast), or labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from aimodel.registry import Registry

TaskName = Literal["classification", "regression", "multilabel"]

#: Metrics where lower is better (everything else, accuracy and F1 included, is higher-better).
LOWER_IS_BETTER = ("loss", "mae", "rmse", "mse")


@dataclass(frozen=True)
class Task:
    """One answer kind.

    Attributes:
        name: the YAML value of ``task``.
        activation: the output layer's activation.
        metrics: the metric names Keras records (``val_`` + name on the validation split).
        monitor: the default of ``training.monitor``.
        report_keys: what ``evaluate --json`` puts at its top level, as ``accuracy`` for classification.
        losses: the values ``training.loss`` may take (the first is the default).
    """

    name: str
    activation: str
    metrics: tuple[str, ...]
    monitor: str
    report_keys: tuple[str, ...]
    losses: tuple[str, ...]

    def monitors(self) -> tuple[str, ...]:
        """Every value ``training.monitor`` (and early stopping, and a search objective) may take."""
        names = ("loss",) + self.metrics
        return tuple(f"val_{n}" for n in names) + names

    def describe(self, value: float, metric: str) -> str:
        """``value`` of ``metric`` as reports print it (percent for shares, 4 significant digits otherwise)."""
        if metric in ("accuracy", "micro_f1", "macro_f1", "subset_accuracy"):
            return f"{value * 100:.2f}%"
        return f"{value:.4g}"


TASKS: Registry[Task] = Registry("task")

TASKS.register("classification")(Task(
    name="classification", activation="softmax", metrics=("accuracy",), monitor="val_accuracy",
    report_keys=("accuracy",), losses=("crossentropy",)))
TASKS.register("regression")(Task(
    name="regression", activation="linear", metrics=("mae", "rmse", "r2"), monitor="val_loss",
    report_keys=("mae", "rmse", "r2"), losses=("mse", "mae", "huber")))
TASKS.register("multilabel")(Task(
    name="multilabel", activation="sigmoid", metrics=("micro_f1", "macro_f1"), monitor="val_loss",
    report_keys=("micro_f1", "macro_f1", "subset_accuracy"), losses=("binary_crossentropy",)))


def task_of(spec_or_name) -> Task:
    """The :class:`Task` of an ``InputSpec`` (None there: a classification run from before ``task``) or a name."""
    name = spec_or_name if isinstance(spec_or_name, str) or spec_or_name is None else getattr(spec_or_name, "task", None)
    return TASKS.get(name or "classification")


def direction(metric: str) -> str:
    """``"min"`` when lower values of ``metric`` (``val_`` prefix or not) are better, else ``"max"``."""
    name = metric[len("val_"):] if metric.startswith("val_") else metric
    return "min" if name in LOWER_IS_BETTER or name.endswith("loss") else "max"


#: Multilabel: the decision threshold a label's probability must reach, unless one was chosen per label.
DEFAULT_THRESHOLD = 0.5


def thresholds_of(spec) -> Optional[list[float]]:
    """A multilabel model's per-label thresholds (``InputSpec.thresholds``), or None for other tasks."""
    if task_of(spec).name != "multilabel":
        return None
    saved = getattr(spec, "thresholds", None)
    return list(saved) if saved else [DEFAULT_THRESHOLD] * len(spec.class_names)
