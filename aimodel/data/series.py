"""Time series from a CSV file (``dataset.name: timeseries``): windows of the past, the next steps as targets.

The file has a time column, a numeric target column and optional numeric feature columns. Rows are
sorted by time; a duplicate time is an error, and so is a gap (a missing step) unless ``dataset.fill``
fills it (``previous``: the last value carried forward; ``interpolate``: a straight line between its
neighbours), which fills missing cells (``dataset.missing_values``) too. See
:mod:`aimodel.data.timeaxis` for the times a column may hold and how the step is found.

The series is split in time order: test = the last ``test_split`` of the rows, validation = the
``validation_split`` before it, training = the rest. A sample is a window of ``window`` rows
(``Split.x`` float32 ``(N, window, F)``, the target first, then ``features``) and the ``horizon``
target values after it (``Split.y`` float32 ``(N, horizon)``, in the target's unit, outputs named
``t+1``...). A window belongs to the part its *targets* lie in, and every target of a window lies in
one part; its inputs may reach back into the part before (the past is known when forecasting), so
no training window holds a validation or test row, and no validation window a test row. Windows are
cut by numpy striding (``sliding_window_view``): the same windows as
``keras.utils.timeseries_dataset_from_array`` (a test checks it), as in-memory arrays. Training windows
are shuffled among themselves only. The model standardizes the inputs (its ``sequence`` input layer,
adapted on the training windows) and the targets (its regression head, on the training targets).

With ``anchor: last`` (the default) the model works relative to each window's last target value: it
subtracts that value from the target column of every input step before standardizing, its head is fitted
on the targets minus it, and its last layer adds it back (see :func:`aimodel.models.factory.build_model`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Optional

import numpy as np
from pydantic import Field, FilePath, field_validator, model_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, absolute_path, finish_bundle
from aimodel.data.files import CsvLayout, UndecodableText, read_csv, read_csv_bytes, table_delimiter
from aimodel.data.missing import DEFAULT_MISSING, MissingCells
from aimodel.data.options import EncodingOptions
from aimodel.data.spec import InputSpec
from aimodel.data.timeaxis import TimeAxis, infer_step, parse_times, step_text
from aimodel.errors import DataError

log = logging.getLogger(__name__)

Fill = Literal["none", "previous", "interpolate"]
Anchor = Literal["none", "last"]


class TimeseriesDataset(EncodingOptions, DatasetBase):
    """A CSV file holding one series: a time column, a target column and optional feature columns.

    Example::

        dataset: {name: timeseries, path: data/load.csv, time_column: date, target: load, window: 28,
                  horizon: 7, season: 7}
    """

    tasks: ClassVar[tuple[str, ...]] = ("regression",)

    name: Literal["timeseries"] = "timeseries"
    path: FilePath = Field(..., description="The CSV file (a header row, one row per time step).")
    time_column: str = Field(..., description="The column holding each row's time: dates (2024-01-31, "
                             "31.01.2024, 01/31/2024), dates and times (2024-01-31 13:00), year-months (2024-01) "
                             "or numbers. Rows are sorted by it.")
    target: str = Field(..., description="The numeric column to forecast; its past values are always inputs.")
    features: list[str] = Field([], description="Other numeric columns given to the model beside the target's "
                                "past (known up to the forecast's start).")
    window: int = Field(..., ge=1, description="Rows of the past each forecast sees.")
    horizon: int = Field(1, ge=1, description="Steps forecast after each window (outputs t+1 ... t+horizon).")
    season: Optional[int] = Field(None, ge=1, description="Steps in one season (7 for daily data with a weekly "
                                  "cycle): evaluate adds the seasonal naive baseline. At most dataset.window.")
    fill: Fill = Field("none", description="Missing steps (a gap in the time column) and missing cells: none "
                       "(an error naming them), previous (the last value carried forward), interpolate (a "
                       "straight line between the neighbours).")
    missing_values: list[str] = Field(list(DEFAULT_MISSING), description="Cells that mean \"missing\" (see "
                                      "dataset.fill).")
    delimiter: Optional[str] = Field(
        None, min_length=1, max_length=1, description="Field separator; default: a tab for .tsv files, else ','. "
        "Saved with the model.")
    decimal: Literal[".", ","] = Field(
        ".", description="The decimal mark of the numbers: ',' reads 17,99 as 17.99 (needs another delimiter, "
        "e.g. ';'). Saved with the model.")
    dayfirst: Optional[bool] = Field(
        None, description="How to read slashed dates: true 31/12/2024, false 12/31/2024; default: from the "
        "column (a first part above 12 is a day, a second one a month). 31.12.2024 and 31-12-2024 are read day "
        "first. Saved with the model.")
    anchor: Anchor = Field("last", description="What the model forecasts from. last (the default): each window "
                           "relative to its last target value: the model subtracts it from the target's inputs "
                           "and adds it back to its outputs, so it learns the change from persistence and a "
                           "trend that leaves the training range stays in range (Mauna Loa CO2: test MAE 0.35 "
                           "ppm against 4.9 with none, LSTM). none: the raw levels, standardized with the "
                           "training part's statistics (runs from before this key).")
    test_split: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction of the series' rows, at its end, "
                              "held out as the test part.")
    validation_split: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the series' rows just before "
                                    "the test part held out for validation. 0 turns validation off.")

    _abs = field_validator("path")(absolute_path)

    @model_validator(mode="after")
    def _columns(self):
        if self.decimal == "," and table_delimiter(str(self.path), self.delimiter) == ",":
            raise ValueError("dataset.decimal ',' needs another field separator: set dataset.delimiter (e.g. ';')")
        named = [self.time_column, self.target, *self.features]
        dupes = sorted({c for c in named if named.count(c) > 1})
        if dupes:
            raise ValueError(f"dataset: {', '.join(dupes)} named twice among time_column, target and features "
                             "(the target is always an input; features lists the other columns)")
        if self.season is not None and self.season > self.window:
            raise ValueError(f"dataset.season {self.season} is longer than dataset.window {self.window}: the "
                             "seasonal naive baseline reads the value one season back inside the window; use a "
                             "window of at least one season")
        return self

    def reading(self) -> "SeriesFormat":
        return SeriesFormat(self.time_column, self.target, list(self.features), self.fill,
                            list(self.missing_values), self.delimiter, self.encoding, self.encoding_errors,
                            self.decimal, self.dayfirst)


@dataclass
class SeriesFormat:
    """How to read a series file: what training read, and what predict reads again (from the spec)."""

    time_column: str
    target: str
    features: list[str]
    fill: str = "none"
    missing_values: list[str] = field(default_factory=lambda: list(DEFAULT_MISSING))
    delimiter: Optional[str] = None
    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    decimal: str = "."
    dayfirst: Optional[bool] = None

    @property
    def columns(self) -> list[str]:
        """The model's input columns, in order: the target, then the features."""
        return [self.target, *self.features]

    @classmethod
    def of(cls, spec: InputSpec) -> "SeriesFormat":
        encoding, errors = spec.text_encoding()
        return cls(spec.time_column, spec.label_column, list(spec.features or []), spec.fill or "none",
                   list(spec.missing_values or DEFAULT_MISSING), spec.delimiter, encoding, errors,
                   spec.decimal or ".", spec.dayfirst)


@dataclass
class Series:
    """A series read from a file: one row per step (gaps filled), in time order."""

    times: TimeAxis
    values: np.ndarray  # float32 (n, F), the target first
    step: float
    filled: int = 0


def read_series(path: Path, fmt: SeriesFormat, step: Optional[float] = None, unit: Optional[str] = None,
                data: Optional[bytes] = None) -> Series:
    """Read, sort and check a series file; fill its gaps and missing cells as ``fmt.fill`` says.

    Args:
        step, unit: a trained model's step and time unit (predict); None finds them in the file.
        data: the file's content when it arrived without a file (a server upload named ``path``).

    Raises:
        DataError: one line naming the row and column (a bad time or value) or both times (a gap,
            a duplicate).
    """
    try:
        layout = CsvLayout(delimiter=fmt.delimiter, decimal=fmt.decimal)
        table = read_csv(path, None, fmt.encoding, fmt.encoding_errors, layout) if data is None else \
            read_csv_bytes(data, str(path), None, fmt.encoding, fmt.encoding_errors, layout)
    except UndecodableText as exc:
        raise DataError(f"{exc}; {UndecodableText.HINT}") from None
    cols = {}
    for name, what in [(fmt.time_column, "dataset.time_column"), (fmt.target, "dataset.target")] + \
            [(c, "dataset.features") for c in fmt.features]:
        if name not in table.header:
            from aimodel.registry import did_you_mean

            raise DataError(f"{path}: no column '{name}' ({what}){did_you_mean(name, table.header)}; columns: "
                            f"{', '.join(table.header)}")
        i = table.header.index(name)
        cols[name] = [row[i].strip() for row in table.rows]
    times = parse_times(cols[fmt.time_column], table.lines, path, fmt.time_column, unit, fmt.dayfirst)
    order = np.argsort(times.values, kind="stable")
    if (np.diff(order) < 0).any():
        log.info("%s: rows sorted by %s", path, fmt.time_column)
    lines = [table.lines[i] for i in order]
    times.values = times.values[order]
    _check_duplicates(path, fmt, times, lines)
    step = step if step is not None else infer_step(times.values)
    values = _numbers(path, fmt, cols, order, lines)
    if step is None:  # one row: nothing to check
        return Series(times, values, 1.0)
    positions = _positions(path, fmt, times, lines, step)
    return _filled(path, fmt, times, values, positions, step, lines)


def _check_duplicates(path, fmt: SeriesFormat, times: TimeAxis, lines: list[int]) -> None:
    same = np.flatnonzero(np.diff(times.values) == 0)
    if same.size:
        i = int(same[0])
        raise DataError(f"{path}: column '{fmt.time_column}': {times.text(times.values[i])} occurs twice (lines "
                        f"{lines[i]} and {lines[i + 1]}"
                        + (f"; {same.size - 1} more repeated time(s)" if same.size > 1 else "")
                        + "); each time must occur once (dataset.fill does not merge rows)")


def _numbers(path, fmt: SeriesFormat, cols: dict, order, lines: list[int]) -> np.ndarray:
    """float32 ``(n, F)`` of the input columns in time order; missing cells NaN, other non-numbers an error."""
    cells = MissingCells(fmt.missing_values, table_delimiter(str(path), fmt.delimiter) == ",")
    out = np.empty((len(order), len(fmt.columns)), np.float32)
    for j, name in enumerate(fmt.columns):
        column = cols[name]
        for k, i in enumerate(order):
            cell = column[i]
            try:
                out[k, j] = cells.number(cell)
            except ValueError:
                raise DataError(f"{path}: line {lines[k]}, column '{name}': {cell!r} is not a number (a series "
                                "needs a number in every cell; list the cell in dataset.missing_values if it "
                                "means missing)") from None
    return out


def _positions(path, fmt: SeriesFormat, times: TimeAxis, lines: list[int], step: float) -> np.ndarray:
    """Each row's step number from the first row; a time between two steps is an error."""
    offsets = (times.values - times.values[0]) / step
    positions = np.rint(offsets).astype(np.int64)
    off = np.flatnonzero(np.abs(offsets - positions) > 1e-6 * np.maximum(1.0, np.abs(offsets)))
    if off.size:
        i = int(off[0])
        raise DataError(f"{path}: line {lines[i]}, column '{fmt.time_column}': {times.text(times.values[i])} is "
                        f"not a whole number of steps ({step_text(step, times.unit)}) after "
                        f"{times.text(times.values[0])}; the series must have one row per step")
    return positions


def _filled(path, fmt: SeriesFormat, times: TimeAxis, values: np.ndarray, positions: np.ndarray, step: float,
            lines: list[int]) -> Series:
    jumps = np.flatnonzero(np.diff(positions) > 1)
    missing = np.isnan(values)
    if fmt.fill == "none":
        if jumps.size:
            i = int(jumps[0])
            lost = int(positions[i + 1] - positions[i] - 1)
            raise DataError(f"{path}: column '{fmt.time_column}': a gap between {times.text(times.values[i])} "
                            f"(line {lines[i]}) and {times.text(times.values[i + 1])} (line {lines[i + 1]}): "
                            f"{lost} step(s) of {step_text(step, times.unit)} missing"
                            + (f" ({jumps.size} gaps in all)" if jumps.size > 1 else "")
                            + "; set dataset.fill: previous or interpolate to fill gaps, or add the rows")
        if missing.any():
            k, j = (int(v) for v in np.argwhere(missing)[0])
            raise DataError(f"{path}: line {lines[k]}, column '{fmt.columns[j]}': the value is missing; set "
                            "dataset.fill: previous or interpolate to fill missing values, or fill the cell")
        return Series(times, values, step)
    grid = np.arange(int(positions[-1]) + 1)
    full = np.full((grid.size, values.shape[1]), np.nan, np.float32)
    full[positions] = values
    for j in range(full.shape[1]):
        full[:, j] = _fill_column(full[:, j], fmt.fill, fmt.columns[j], path)
    filled = int(grid.size - positions.size)
    if filled or missing.any():
        log.warning("%s: %d missing step(s) and %d missing cell(s) filled (dataset.fill: %s)", path, filled,
                    int(missing.sum()), fmt.fill)
    axis = TimeAxis(times.values[0] + grid * step, times.unit, times.format, times.day)
    return Series(axis, full, step, filled=filled)


def _fill_column(column: np.ndarray, how: str, name: str, path) -> np.ndarray:
    known = np.flatnonzero(~np.isnan(column))
    if not known.size:
        raise DataError(f"{path}: column '{name}' has no value in any row")
    if how == "interpolate":  # np.interp holds the first and last values flat beyond them
        return np.interp(np.arange(column.size), known, column[known]).astype(np.float32)
    last = np.maximum.accumulate(np.where(np.isnan(column), -1, np.arange(column.size)))
    last[last < 0] = known[0]  # before the first value: that value
    return column[last]


@dataclass(frozen=True)
class Parts:
    """Row counts of the three parts, in time order: training, validation, test."""

    train: int
    val: int
    test: int


def parts(n: int, test_split: float, validation_split: float) -> Parts:
    test = int(round(n * test_split))
    val = int(round(n * validation_split))
    return Parts(n - test - val, val, test)


def rows_needed(window: int, horizon: int, test_split: float, validation_split: float) -> int:
    """The fewest rows that give every part at least one whole window."""
    n = window + horizon
    while not _enough(parts(n, test_split, validation_split), window, horizon, validation_split):
        n += 1
    return n


def _enough(p: Parts, window: int, horizon: int, validation_split: float) -> bool:
    return p.train >= window + horizon and p.test >= horizon and (validation_split == 0 or p.val >= horizon)


def window_ends(p: Parts, window: int, horizon: int) -> tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """The last input row of each training, validation and test window (see the module docstring)."""
    train = np.arange(window - 1, p.train - horizon)
    val_start, test_start = p.train, p.train + p.val
    val = np.arange(val_start - 1, test_start - horizon) if p.val else None
    test = np.arange(test_start - 1, test_start + p.test - horizon)
    return train, val, test


def windows(values: np.ndarray, ends: np.ndarray, window: int, horizon: int) -> Split:
    """x float32 ``(N, window, F)`` (rows ``end-window+1 .. end``), y float32 ``(N, horizon)`` (the target,
    column 0, at rows ``end+1 .. end+horizon``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(values, window, axis=0).transpose(0, 2, 1)[ends - window + 1]
    y = sliding_window_view(values[:, 0], horizon)[ends + 1]
    return Split(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32))


@DATASETS.register("timeseries")
def load_timeseries(cfg: TimeseriesDataset, seed: int, task: str = "regression"):
    """The training, validation and test windows of the series (see the module docstring)."""
    series = read_series(cfg.path, cfg.reading())
    n = len(series.values)
    p = parts(n, cfg.test_split, cfg.validation_split)
    if not _enough(p, cfg.window, cfg.horizon, cfg.validation_split):
        need = rows_needed(cfg.window, cfg.horizon, cfg.test_split, cfg.validation_split)
        raise DataError(f"{cfg.path}: the series has {n} rows" + (f" ({series.filled} filled)" if series.filled
                                                                   else "")
                        + f"; dataset.window {cfg.window} + dataset.horizon {cfg.horizon} need at least "
                        f"{cfg.window + cfg.horizon} rows for one window, and {need} with test_split "
                        f"{cfg.test_split} and validation_split {cfg.validation_split} (the training part needs "
                        "window + horizon rows, validation and test horizon rows each)")
    train_ends, val_ends, test_ends = window_ends(p, cfg.window, cfg.horizon)
    cut = lambda ends: windows(series.values, ends, cfg.window, cfg.horizon)  # noqa: E731
    train, test = cut(train_ends), cut(test_ends)
    val = cut(val_ends) if val_ends is not None else None
    names = [f"t+{k}" for k in range(1, cfg.horizon + 1)]
    fmt = cfg.reading()
    spec = InputSpec(kind="sequence", shape=(cfg.window, len(fmt.columns)), class_names=names,
                     label_column=cfg.target, features=list(cfg.features), time_column=cfg.time_column,
                     window=cfg.window, horizon=cfg.horizon, season=cfg.season, fill=cfg.fill,
                     time_step=series.step, time_unit=series.times.unit, time_format=series.times.format,
                     encoding=cfg.encoding, encoding_errors=cfg.encoding_errors, header="true",
                     missing_values=list(cfg.missing_values), anchor=cfg.anchor, delimiter=cfg.delimiter,
                     decimal=cfg.decimal if cfg.decimal != "." else None, dayfirst=series.times.dayfirst)
    text = series.times.text
    notes = {"source": "timeseries", "files": [str(cfg.path)], "filled_steps": series.filled,
             "time_step": step_text(series.step, series.times.unit),
             "parts": {name: {"rows": rows, "from": text(series.times.values[first]),
                              "to": text(series.times.values[first + rows - 1])} if rows else None
                       for name, rows, first in (("train", p.train, 0), ("val", p.val, p.train),
                                                 ("test", p.test, p.train + p.val))}}
    return finish_bundle(train, test, names, 0.0, seed, val=val, spec=spec, notes=notes, task="regression")


def expanding_folds(n: int, folds: int, horizon: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``aimodel cv`` for a series: (training, validation) positions of time-ordered windows, per fold.

    The windows are cut into ``folds + 1`` blocks in time order; fold k trains on blocks 1..k and validates
    on block k+1 (an expanding window, scikit-learn's ``TimeSeriesSplit``). The last ``horizon - 1``
    training windows before each validation block are left out, so no training target is a validation target.

    Raises:
        DataError: fewer than 2 folds, or too few windows for them.
    """
    from sklearn.model_selection import TimeSeriesSplit

    if folds < 2:
        raise DataError(f"--folds: cross-validation needs at least 2 folds, got {folds}")
    block = n // (folds + 1)
    if block < 1 or n - folds * block - (horizon - 1) < 1:
        raise DataError(f"--folds {folds}: {n} training and validation windows are too few for {folds} "
                        "expanding-window folds; use fewer folds or a longer series")
    return list(TimeSeriesSplit(n_splits=folds, gap=horizon - 1).split(np.zeros((n, 1))))
