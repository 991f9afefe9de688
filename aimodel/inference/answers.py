"""What one prediction says, per task: a class with its top-k, a value (or one per target), or a label set.

One :class:`Answer` per task in :data:`ANSWERS` (``task:`` picks it, as for heads and
losses). Each turns one row of the model's outputs ``(n_outputs,)`` into the fields of a
:class:`~aimodel.inference.predict.Prediction`, and names and fills the columns those fields
take in CSV output and in the CLI's table. Predict, ``serve``'s ``/predict`` and the page all
go through it, so every surface says the same thing.

- classification: ``label``, ``confidence``, ``top_k`` (unchanged from before ``task``).
- regression: ``value``: a number for one target; with several targets (or a forecast's
  ``t+1``... steps) a mapping target → number, in the model's output order. The model
  answers in the target's unit (its last layer undoes the standardization), so nothing is
  rescaled here. Values keep 7 significant digits (float32's precision).
- multilabel: ``labels``: the labels whose probability reaches that label's threshold
  (``meta.json``'s ``input.thresholds``, chosen after training, else 0.5), in the model's
  label order; ``probabilities``: label → probability for every label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from aimodel.registry import Registry
from aimodel.tasks import task_of, thresholds_of

if TYPE_CHECKING:
    from aimodel.data.spec import InputSpec


@dataclass
class Prediction:
    """One input's result, or why it could not be predicted.

    Which answer fields are set depends on the task: classification ``label``, ``confidence``,
    ``top_k``; regression ``value`` (a number, or target -> number with several targets);
    multilabel ``labels`` and ``probabilities`` (label -> probability).
    """

    input: str
    label: Optional[str] = None
    confidence: Optional[float] = None
    top_k: list[tuple[str, float]] = field(default_factory=list)
    value: Optional[float | dict[str, float]] = None
    labels: Optional[list[str]] = None
    probabilities: Optional[dict[str, float]] = None
    error: Optional[str] = None
    #: for CSV inputs: the original row, its file and that file's columns
    row: Optional[dict] = None
    source: Optional[str] = None
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"input": self.input}
        if self.error:
            out["error"] = self.error
        elif self.value is not None:
            out["value"] = self.value
        elif self.labels is not None:
            out.update(labels=self.labels, probabilities=self.probabilities)
        else:
            out.update(label=self.label, confidence=self.confidence,
                       top_k=[{"label": n, "confidence": c} for n, c in self.top_k])
        return out


def significant(value: float) -> float:
    """``value`` to 7 significant digits: what a float32 output holds, without float64 noise in JSON."""
    return float(f"{float(value):.7g}")


class Answer:
    """How one task's predictions read. Subclasses fill and show the fields of their task."""

    task = ""

    def __init__(self, spec: "InputSpec | None" = None):
        self.names = list(spec.class_names) if spec is not None else []

    def fill(self, pred: Prediction, row: np.ndarray, k: int) -> None:
        """Set ``pred``'s answer fields from one row of model outputs (``k``: classes listed, classification)."""
        raise NotImplementedError

    def csv_columns(self, k: int) -> list[str]:
        """The columns CSV output appends (before ``error``)."""
        raise NotImplementedError

    def csv_cells(self, pred: Prediction, k: int) -> list[str]:
        """``pred``'s cells under :meth:`csv_columns` (empty strings for a failed input)."""
        raise NotImplementedError

    def table_columns(self) -> list[str]:
        """The columns of the CLI's table after ``input``."""
        raise NotImplementedError

    def table_cells(self, pred: Prediction) -> list[str]:
        raise NotImplementedError


ANSWERS: Registry[type[Answer]] = Registry("task answer")


def answer_for(spec: "InputSpec") -> Answer:
    """The :class:`Answer` of ``spec``'s task (a run from before ``task``: classification)."""
    return ANSWERS.get(task_of(spec).name)(spec)


@ANSWERS.register("classification")
class ClassAnswer(Answer):
    """The ``k`` most likely classes; ``label`` and ``confidence`` are the first."""

    task = "classification"

    def fill(self, pred, row, k):
        top = top_classes(row[None, :], self.names, k)[0]
        pred.label, pred.confidence = top[0]
        pred.top_k = top

    def csv_columns(self, k):
        cols = ["prediction", "confidence"]
        for i in range(2, k + 1):
            cols += [f"top{i}", f"top{i}_confidence"]
        return cols

    def csv_cells(self, pred, k):
        new = ["", ""] + ["", ""] * (k - 1)
        if pred.error is None:
            new[0], new[1] = pred.label, f"{pred.confidence:.6f}"
            for i, (name, conf) in enumerate(pred.top_k[1:], 1):
                new[2 * i], new[2 * i + 1] = name, f"{conf:.6f}"
        return new

    def table_columns(self):
        return ["class", "confidence", "top-k"]

    def table_cells(self, pred):
        return [pred.label, f"{pred.confidence:.3f}", ", ".join(f"{n} {c:.2f}" for n, c in pred.top_k)]


@ANSWERS.register("regression")
class ValueAnswer(Answer):
    """A number per target, in the target's unit: ``value`` (one target) or ``{target: value}``."""

    task = "regression"

    def fill(self, pred, row, k):
        values = [significant(v) for v in row]
        pred.value = values[0] if len(self.names) == 1 else dict(zip(self.names, values))

    def csv_columns(self, k):
        return ["prediction"] if len(self.names) == 1 else [f"prediction_{n}" for n in self.names]

    def csv_cells(self, pred, k):
        if pred.error is not None:
            return [""] * len(self.csv_columns(k))
        values = [pred.value] if len(self.names) == 1 else [pred.value[n] for n in self.names]
        return [f"{v:.7g}" for v in values]

    def table_columns(self):
        return ["value"]

    def table_cells(self, pred):
        if len(self.names) == 1:
            return [f"{pred.value:.6g}"]
        return [", ".join(f"{n} {v:.6g}" for n, v in pred.value.items())]


@ANSWERS.register("multilabel")
class LabelSetAnswer(Answer):
    """The labels whose probability reaches their threshold, plus every label's probability."""

    task = "multilabel"

    def __init__(self, spec):
        super().__init__(spec)
        self.thresholds = thresholds_of(spec)
        self.separator = spec.label_separator or ";"

    def fill(self, pred, row, k):
        pred.labels = [n for n, p, t in zip(self.names, row, self.thresholds) if float(p) >= t]
        pred.probabilities = {n: round(float(p), 6) for n, p in zip(self.names, row)}

    def csv_columns(self, k):
        # "prediction" holds the set as the label column does (joined by dataset.label_separator)
        return ["prediction"] + [f"probability_{n}" for n in self.names]

    def csv_cells(self, pred, k):
        if pred.error is not None:
            return [""] * (1 + len(self.names))
        return [self.separator.join(pred.labels)] + [f"{pred.probabilities[n]:.6f}" for n in self.names]

    def table_columns(self):
        return ["labels", "probabilities"]

    def table_cells(self, pred):
        chosen = ", ".join(pred.labels) if pred.labels else "(none)"
        return [chosen, ", ".join(f"{n} {p:.2f}" for n, p in pred.probabilities.items())]


def top_classes(probs: np.ndarray, names: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row of ``probs``: the ``k`` most likely ``(class name, probability)``, most likely first."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(names[j], round(float(probs[row, j]), 6)) for j in order[row]] for row in range(len(probs))]
