"""The time column of a series: parsing it, its step, gaps and duplicates, and the times after it.

A time cell is an ISO date (``2024-01-31``), an ISO date and time (``2024-01-31 13:00``,
``2024-01-31T13:00:00Z``), a day-first date (``31.01.2024``, ``31-01-2024``, with an optional time), a
slashed date (``31/01/2024`` or ``01/31/2024``: the column's cells, or ``dataset.dayfirst``, tell
which), a year and month in every cell (``2024-01``: a monthly series, forecasts written the same way)
or, when every cell of the column is a number, a number (a step counter, a year). Times become floats in one *unit*: seconds (dates and times, naive ones read as UTC),
months (dates that all fall on one day of the month, ≤ 28, or all on month ends, at least 28 days
apart: monthly and yearly series, whose steps in days differ) or the number itself. The series'
step is the smallest difference between neighbouring times; every difference must be a whole
number of steps.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from aimodel.errors import DataError

#: ``InputSpec.time_format``: how times are written back (forecast timestamps); month: 2024-01.
TIME_FORMATS = ("date", "datetime", "datetime_utc", "number", "month")
#: ``InputSpec.time_unit``: what one unit of a time value is.
TIME_UNITS = ("second", "month", "number")
#: how close a difference must be to a whole number of steps (float seconds of dates and times)
_TOLERANCE = 1e-6
_EXPECTED = ("expected a date or time such as 2024-01-31, 2024-01-31 13:00, 31.01.2024, 01/31/2024 or 2024-01, "
             "or a number in every cell")
_YEAR_MONTH = re.compile(r"(\d{4})[-/.](\d{1,2})")
#: day or month, the same separator, the other, a four-digit year, an optional time
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})(?:[ T](.+))?")


@dataclass
class TimeAxis:
    """A parsed time column: values in ``unit`` (float64, file order) and how to write them back."""

    values: np.ndarray
    unit: str
    format: str
    #: month unit: the day of the month every date falls on; None: month ends (forecasts land on them too)
    day: Optional[int] = 1
    #: slashed dates: True when day first (31/01/2024), False when month first; None: the column had none
    dayfirst: Optional[bool] = None

    def text(self, value: float) -> str:
        """``value`` (in this axis' unit) as the file would write it."""
        return format_time(value, self.unit, self.format, self.day)


def _number(cell: str) -> Optional[float]:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _parse_one(cell: str):
    """A ``date`` or ``datetime`` for one cell, or None when it is neither."""
    cell = cell.strip()
    if len(cell) == 10:
        try:
            return date.fromisoformat(cell)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(cell)
    except ValueError:
        return None


def _slash_order(found: list, path, column: str) -> bool:
    """Whether slashed dates are day first, from their cells: a first part above 12 is a day, a second one a month."""
    if any(int(m[1]) > 12 for m in found):
        return True
    if any(int(m[3]) > 12 for m in found):
        return False
    raise DataError(f"{path}: column '{column}': dates such as {found[0][0]!r} read as day/month and as month/day; "
                    "set dataset.dayfirst: true (31/12/2024) or false (12/31/2024)")


def _iso_cells(cells: list[str], path, column: str, dayfirst: Optional[bool]):
    """The cells as ISO dates, whether slashed dates were day first, and whether every cell was a year-month."""
    months = [_YEAR_MONTH.fullmatch(c) for c in cells]
    if cells and all(months):
        return [f"{int(m[1]):04d}-{int(m[2]):02d}-01" for m in months], dayfirst, True
    found = [_DAY_MONTH_YEAR.fullmatch(c) for c in cells]
    slashed = [m for m in found if m and m[2] == "/"]
    if slashed and dayfirst is None:
        dayfirst = _slash_order(slashed, path, column)
    out = []
    for cell, m in zip(cells, found):
        if m is None:
            out.append(cell)
            continue
        first = dayfirst if m[2] == "/" or dayfirst is not None else True  # dotted and dashed: day first
        day, month = (m[1], m[3]) if first else (m[3], m[1])
        out.append(f"{m[4]}-{int(month):02d}-{int(day):02d}" + (f" {m[5]}" if m[5] else ""))
    return out, dayfirst, False


def parse_times(cells: list[str], lines: list[int], path: Path | str, column: str,
                unit: Optional[str] = None, dayfirst: Optional[bool] = None) -> TimeAxis:
    """Parse a time column (see the module docstring).

    Args:
        cells: the column's cells, stripped, in file order.
        lines: each cell's line in the file (for messages).
        unit: the unit to use (a trained model's ``time_unit``); None picks it from the cells.
        dayfirst: how to read slashed dates (``dataset.dayfirst``, a trained model's); None: from the cells.

    Raises:
        DataError: naming the line and column of the first cell that is not a time.
    """
    numbers = [_number(c) for c in cells]
    if unit == "number" or (unit is None and all(n is not None for n in numbers)):
        bad = next((i for i, n in enumerate(numbers) if n is None), None)
        if bad is not None:
            raise DataError(f"{path}: line {lines[bad]}, column '{column}': {cells[bad]!r} is not a number "
                            "(the model was trained on a numeric time column)")
        return TimeAxis(np.asarray(numbers, np.float64), "number", "number")
    iso, dayfirst, year_months = _iso_cells(cells, path, column, dayfirst)
    parsed = []
    for cell, text, line in zip(cells, iso, lines):
        value = _parse_one(text)
        if value is None:
            raise DataError(f"{path}: line {line}, column '{column}': {cell!r} is not a time ({_EXPECTED}; "
                            "dataset.time_column names the column)")
        parsed.append(value)
    axis = _axis(parsed, lines, path, column, unit)
    axis.dayfirst = dayfirst
    if year_months and axis.unit == "month":
        axis.format = "month"
    return axis


def _axis(parsed: list, lines: list[int], path, column: str, unit: Optional[str]) -> TimeAxis:
    dated = [isinstance(v, date) and not isinstance(v, datetime) for v in parsed]
    if all(dated):
        days = [v.day for v in parsed]
        ends = [v.day == calendar.monthrange(v.year, v.month)[1] for v in parsed]
        monthly = (len(set(days)) == 1 and days[0] <= 28) or all(ends)
        ordinals = np.asarray([v.toordinal() for v in parsed], np.float64)
        far = len(parsed) < 2 or np.min(np.abs(np.diff(np.sort(ordinals)))) >= 28
        if unit == "month" or (unit is None and monthly and far):
            same_day = len(set(days)) == 1 and days[0] <= 28
            return TimeAxis(np.asarray([v.year * 12 + v.month - 1 for v in parsed], np.float64), "month", "date",
                            day=days[0] if same_day else None)
        return TimeAxis((ordinals - date(1970, 1, 1).toordinal()) * 86400.0, "second", "date")
    stamps = [datetime(v.year, v.month, v.day) if d else v for v, d in zip(parsed, dated)]
    aware = [v.tzinfo is not None for v in stamps]
    if any(aware) and not all(aware):
        i = aware.index(not aware[0])
        raise DataError(f"{path}: line {lines[i]}, column '{column}': {parsed[i]} has {'a' if aware[i] else 'no'} "
                        f"time zone, line {lines[0]} {'has' if aware[0] else 'has none'}; give every time with a "
                        "zone (e.g. +00:00) or none")
    values = np.asarray([(v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp() for v in stamps])
    return TimeAxis(values, "second", "datetime_utc" if aware[0] else "datetime")


def format_time(value: float, unit: str, fmt: str, day: Optional[int] = 1) -> str:
    """A time value written back in the column's own format (forecasts give their times this way).

    Args:
        day: month unit: the day of the month (None: the month's last day).
    """
    if unit == "number":
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if unit == "month":
        year, month = divmod(int(round(value)), 12)
        if fmt == "month":
            return f"{year:04d}-{month + 1:02d}"
        last = calendar.monthrange(year, month + 1)[1]
        return date(year, month + 1, last if day is None else min(day, last)).isoformat()
    stamp = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=float(value))
    if fmt == "date":
        return stamp.date().isoformat()
    if fmt == "datetime":
        return stamp.replace(tzinfo=None).isoformat(sep=" ")
    return stamp.isoformat(sep=" ")


def step_text(step: float, unit: str) -> str:
    """``1 day``, ``6 hours``, ``3 months``, ``0.5`` ... for messages."""
    if unit == "number":
        return format_time(step, "number", "number")
    if unit == "month":
        n = int(round(step))
        return f"{n} month{'s' if n != 1 else ''}"
    for name, seconds in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count = step / seconds
        if count >= 1 and abs(count - round(count)) < _TOLERANCE:
            n = int(round(count))
            return f"{n} {name}{'s' if n != 1 else ''}"
    return f"{step:g} seconds"


def infer_step(values: np.ndarray) -> Optional[float]:
    """The smallest positive difference between neighbouring (sorted, distinct) times; None for one time."""
    diffs = np.diff(np.sort(values))
    diffs = diffs[diffs > 0]
    return float(diffs.min()) if diffs.size else None
