"""Missing cells in tables: which strings mean "missing", and how a column's missing cells are filled.

Numeric columns keep a missing cell as NaN (``dataset.zero_means_missing`` columns: a 0 too);
the model fills it inside itself (:class:`aimodel.models.layers.FillMissing`, with the training
split's median, mean or 0) and adds a 0/1 "was missing" input when the training split had any.
Categorical columns turn a missing cell into its own category, :data:`MISSING_CATEGORY`.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

#: ``dataset.missing_values`` default (matched after stripping spaces, ignoring case).
DEFAULT_MISSING = ["", "NA", "N/A", "NaN", "null", "?"]
#: What a missing cell of a categorical column becomes (one category of its own).
MISSING_CATEGORY = "(missing)"
IMPUTE = ("median", "mean", "zero")


class MissingCells:
    """Tells missing cells from values: ``cells.missing("?")``; built from ``dataset.missing_values``."""

    def __init__(self, values: Optional[Iterable[str]]):
        self.values = list(DEFAULT_MISSING if values is None else values)
        self._folded = {v.strip().casefold() for v in self.values}

    def missing(self, cell: str) -> bool:
        return cell.strip().casefold() in self._folded

    def category(self, cell: str) -> str:
        """A categorical cell as the model sees it (stripped; missing -> :data:`MISSING_CATEGORY`)."""
        cell = cell.strip()
        return MISSING_CATEGORY if self.missing(cell) else cell

    def number(self, cell: str) -> float:
        """A numeric cell: its value, NaN when missing; raises ValueError when it is neither."""
        if self.missing(cell):
            return float("nan")
        value = float(cell)
        if np.isinf(value):
            raise ValueError(cell)
        return value


def fill_value(column: np.ndarray, how: str) -> float:
    """The value a missing cell of a numeric training column becomes: median, mean of the rest, or 0."""
    present = column[np.isfinite(column)]
    if how == "zero" or present.size == 0:
        return 0.0
    return float(np.median(present) if how == "median" else np.mean(present))


def fill(column: np.ndarray, value: float) -> np.ndarray:
    """``column`` with its NaNs replaced by ``value`` (as FillMissing does inside the model)."""
    column = np.asarray(column, np.float32)
    return np.where(np.isnan(column), np.float32(value), column)
