"""Missing cells in tables: which strings mean "missing", and how a column's missing cells are filled.

Numeric columns keep a missing cell as NaN (``dataset.zero_means_missing`` columns: a 0 too);
the model fills it inside itself (:class:`aimodel.models.layers.FillMissing`, with the training
split's median, mean or 0) and adds a 0/1 "was missing" input when the training split had any.
Categorical columns turn a missing cell into its own category, :data:`MISSING_CATEGORY`.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

import numpy as np

#: ``dataset.missing_values`` default (matched after stripping spaces, ignoring case).
DEFAULT_MISSING = ["", "NA", "N/A", "NaN", "null", "?"]
#: What a missing cell of a categorical column becomes (one category of its own).
MISSING_CATEGORY = "(missing)"
IMPUTE = ("median", "mean", "zero")


#: A number as spreadsheets format it: a currency sign before or after, ',' grouping thousands (in groups
#: of three), a trailing '%' (12% reads as 12): $1,234.50 · -€5 · 1,200 · 12.5% · 30 $.
_FORMATTED = re.compile(r"(?P<s1>[-+]?)\s*(?P<cur>[$€£¥₹]?)\s*(?P<s2>[-+]?)"
                        r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)\s*(?P<end>%|[$€£¥₹])?")


def parse_number(cell: str, commas: bool = True) -> float:
    """A numeric cell's value: what ``float`` reads, or a formatted number (:data:`_FORMATTED`).

    Args:
        commas: whether a lone group such as ``17,990`` groups thousands: yes in a comma-separated file
            (where the cell had to be quoted); elsewhere it may be a decimal comma, and only a currency
            sign, a second group or a decimal point (``$17,990``, ``1,234,567``, ``1,234.5``) make it a number.

    Raises:
        ValueError: when the cell is neither.
    """
    try:
        return float(cell)
    except ValueError:
        pass
    m = _FORMATTED.fullmatch(cell.strip())
    if m is None or (m["s1"] and m["s2"]) or (m["cur"] and m["end"]):
        raise ValueError(cell)
    currency = m["cur"] or m["end"] not in (None, "%")
    if not commas and m["num"].count(",") == 1 and "." not in m["num"] and not currency:
        raise ValueError(cell)
    value = float(m["num"].replace(",", ""))
    return -value if "-" in m["s1"] + m["s2"] else value


def is_number(cell: str, commas: bool = True) -> bool:
    """Whether :func:`parse_number` reads ``cell``."""
    try:
        parse_number(cell, commas)
    except ValueError:
        return False
    return True


class MissingCells:
    """Tells missing cells from values: ``cells.missing("?")``; built from ``dataset.missing_values``."""

    def __init__(self, values: Optional[Iterable[str]], commas: bool = True):
        self.values = list(DEFAULT_MISSING if values is None else values)
        self._folded = {v.strip().casefold() for v in self.values}
        #: see :func:`parse_number`: False outside comma-separated files
        self.commas = commas

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
        value = parse_number(cell, self.commas)
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
