"""The CSV files evaluate writes: per_class.csv, confusion_matrix.csv, errors.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.fileio import atomic_write_text


def _csv_text(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_per_class_csv(report: dict, path: Path) -> None:
    """``class, precision, recall, f1, support`` for every class of the model."""
    rows = [["class", "precision", "recall", "f1", "support"]]
    rows += [[r["class"], r["precision"], r["recall"], r["f1"], r["support"]] for r in report["per_class"]]
    atomic_write_text(path, _csv_text(rows))


def write_confusion_csv(cm: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """Counts; rows are true classes, columns predicted classes (the corner cell says so)."""
    rows = [["true \\ predicted", *class_names]]
    rows += [[name, *map(int, counts)] for name, counts in zip(class_names, cm)]
    atomic_write_text(path, _csv_text(rows))


def misclassified(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Indices of wrong predictions, most confident first (ties: lower index first)."""
    pred = probs.argmax(axis=1)
    wrong = np.nonzero(pred != y_true)[0]
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")]


def write_errors_csv(indices: np.ndarray, y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str],
                     path: Path, inputs: Optional[Sequence[str]] = None) -> None:
    """Every misclassified sample, most confident first: where it is, what it is, what the model said.

    ``index`` is the sample's position in the evaluated split; ``input`` (when
    known) is its text or file.
    """
    header = ["rank", "index", "true", "predicted", "confidence", "true_class_probability"]
    rows = [header + (["input"] if inputs is not None else [])]
    for rank, i in enumerate(indices, 1):
        pred = int(probs[i].argmax())
        row = [rank, int(i), class_names[int(y_true[i])], class_names[pred], round(float(probs[i, pred]), 6),
               round(float(probs[i, int(y_true[i])]), 6)]
        rows.append(row + ([inputs[i]] if inputs is not None else []))
    atomic_write_text(path, _csv_text(rows))
