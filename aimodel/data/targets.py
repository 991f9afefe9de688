"""Label columns of a CSV read for each task (see :mod:`aimodel.tasks`): class codes, numbers or label sets.

Regression: every ``dataset.label`` column must hold a number in every row that has one (a row where any
target is missing is left out, as a row without a class is). Multilabel: one column whose cells hold
labels separated by ``dataset.label_separator``; an empty cell means "no label" (not missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from aimodel.data.missing import parse_number
from aimodel.errors import DataError


def number_targets(path: Path, columns: dict[str, list[str]], lines: list[int], commas: bool = True) -> np.ndarray:
    """float32 ``(N, T)``: the target columns' values; a cell that is not a number is an error naming its row.
    ``commas``: see :func:`aimodel.data.missing.parse_number`."""
    out = np.empty((len(lines), len(columns)), np.float32)
    for j, (name, cells) in enumerate(columns.items()):
        for i, cell in enumerate(cells):
            try:
                value = parse_number(cell, commas)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise DataError(f"{path}: line {lines[i]}, column '{name}': {cell!r} is not a number (task: "
                                "regression needs a number in every target cell; add the cell to "
                                "dataset.missing_values to leave its row out)")
            out[i, j] = value
    return out


def split_labels(cell: str, separator: str) -> list[str]:
    """The labels of one multilabel cell (stripped, empty parts dropped, duplicates once)."""
    seen: dict[str, None] = {}
    for part in cell.split(separator):
        part = part.strip()
        if part:
            seen.setdefault(part, None)
    return list(seen)


def label_sets(path: Path, column: str, cells: list[str], separator: str) -> list[list[str]]:
    """Each row's labels; refuses a column where the separator never occurs (it would be one-label classes)."""
    if len(cells) > 1 and not any(separator in c for c in cells):
        shown = ", ".join(repr(c) for c in cells[:3])
        raise DataError(f"{path}: column '{column}': dataset.label_separator {separator!r} occurs in no cell "
                        f"(first cells: {shown}); set dataset.label_separator to the character that separates "
                        "the labels, or use task: classification for one label per row")
    return [split_labels(c, separator) for c in cells]


def multi_hot(sets: list[list[str]], names: list[str], path: Optional[Path] = None) -> np.ndarray:
    """float32 ``(N, L)``: 1 where a row has the label; a label outside ``names`` is an error."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(sets), len(names)), np.float32)
    for i, labels in enumerate(sets):
        for label in labels:
            if label not in index:
                where = f"{path}: " if path else ""
                raise DataError(f"{where}label {label!r} never occurs in the training data (labels: "
                                f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''})")
            out[i, index[label]] = 1.0
    return out


def describe_split(y: np.ndarray, names: list[str], task: str) -> dict:
    """What ``data.json`` and ``data inspect`` show of one split's labels, per task.

    Classification: ``per_class`` counts; multilabel: ``per_label`` counts (a row counts once for each of
    its labels) and ``no_label`` rows; regression: ``targets``, each target's mean, std, min and max.
    """
    if task == "regression":
        return {"targets": {n: {"mean": float(np.mean(y[:, j])), "std": float(np.std(y[:, j])),
                                "min": float(np.min(y[:, j])), "max": float(np.max(y[:, j]))}
                            for j, n in enumerate(names)}}
    if task == "multilabel":
        return {"per_label": {n: int(c) for n, c in zip(names, y.sum(axis=0))},
                "no_label": int((y.sum(axis=1) == 0).sum())}
    counts = np.bincount(y, minlength=len(names))
    return {"per_class": {names[i]: int(c) for i, c in enumerate(counts)}}
