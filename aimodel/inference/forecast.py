"""``aimodel predict SERIES.csv --model RUN`` for a forecasting model: the next ``horizon`` steps of each file.

Each CSV is read as training read its series (:func:`aimodel.data.series.read_series`, with the run's
time column, columns, fill and step); the model sees the file's last ``window`` rows and forecasts the
``horizon`` steps after its last time, each with its time (the last time plus k steps, written as the
file writes times). A file that cannot be used gets its own error; the other files are still forecast.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from aimodel.data.files import SHEET_SUFFIXES, TABLE_SUFFIXES
from aimodel.data.spec import InputSpec
from aimodel.errors import AimodelError, DataError


@dataclass
class Forecast:
    """One file's forecast: ``times`` and ``values`` of steps ``t+1``..., or why it could not be made."""

    input: str
    last_time: Optional[str] = None
    times: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    error: Optional[str] = None

    def to_json(self) -> dict:
        if self.error:
            return {"input": self.input, "error": self.error}
        return {"input": self.input, "last_time": self.last_time,
                "forecast": [{"step": f"t+{k}", "time": t, "value": v}
                             for k, (t, v) in enumerate(zip(self.times, self.values), 1)]}


@dataclass
class ForecastResult:
    """What :func:`forecast_files` returns; ``predictions`` (the forecasts) as a PredictResult has them."""

    checkpoint: Any
    predictions: list[Forecast]
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(p.error is not None for p in self.predictions)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict:
        """``{"model", "failed", "forecasts": [{"input", "last_time", "forecast": [{"step", "time", "value"}]}]}``."""
        return {"model": str(self.checkpoint.model_path), "failed": self.failed,
                "forecasts": [p.to_json() for p in self.predictions]}

    def to_csv(self) -> str:
        """One row per forecast step: ``input, step, time, value, error``."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["input", "step", "time", "value", "error"])
        for p in self.predictions:
            if p.error:
                writer.writerow([p.input, "", "", "", p.error])
            for k, (t, v) in enumerate(zip(p.times, p.values), 1):
                writer.writerow([p.input, f"t+{k}", t, repr(v), ""])
        return buf.getvalue()


def forecast_values(backend, batch: np.ndarray, horizon: int) -> np.ndarray:
    """The model's forecasts ``(N, horizon)`` in the target's unit, for windows ``(N, window, F)``.

    A backend's ``predict_proba`` turns one output column p into the two classes [1 - p, p]; with a
    horizon of 1 that is undone here (column 1 is p exactly).
    """
    out = np.asarray(backend.predict_proba(np.asarray(batch, np.float32)), np.float32)
    if horizon == 1 and out.ndim == 2 and out.shape[1] == 2:
        out = out[:, 1:]
    if out.ndim != 2 or out.shape[1] != horizon:
        raise DataError(f"the model outputs {out.shape[1:]} values per window, its meta.json says horizon {horizon}")
    return out


def last_window(path: Path, spec: InputSpec, data: Optional[bytes] = None):
    """``(x float32 (1, window, F), the series' TimeAxis)`` of a CSV file, read as training read the series.

    Args:
        data: the content of a file that arrived without a path (``aimodel serve``'s uploads, named
            ``path``); None reads the file ``path``.
    """
    from aimodel.data.series import SeriesFormat, read_series

    if data is None and not path.is_file():
        raise DataError(f"{path}: file not found")
    readable = TABLE_SUFFIXES + (SHEET_SUFFIXES if data is None else ())  # serve: CSV uploads only
    if path.suffix.lower() not in readable and (data is None or path.suffix):
        kinds = "CSV (or .xlsx)" if data is None else "CSV"
        raise DataError(f"{path}: a forecasting model takes {kinds} files of the series (time column "
                        f"'{spec.time_column}', target '{spec.label_column}')")
    series = read_series(path, SeriesFormat.of(spec), step=spec.time_step, unit=spec.time_unit, data=data)
    if len(series.values) < spec.window:
        raise DataError(f"{path}: {len(series.values)} row(s); the model forecasts from the last {spec.window} "
                        f"(its window), so the file needs at least {spec.window} rows")
    return series.values[None, -spec.window:], series.times


def finish(item: Forecast, values: np.ndarray, times, spec: InputSpec) -> Forecast:
    """Give ``item`` the model's ``values`` (horizon,) and their times (the series' last time plus k steps)."""
    if not np.isfinite(values).all():
        item.error = f"{item.input}: the model's output is not finite (NaN or infinity)"
        return item
    last = float(times.values[-1])
    item.last_time = times.text(last)
    item.times = [times.text(last + k * spec.time_step) for k in range(1, spec.horizon + 1)]
    item.values = [round(float(v), 6) for v in values]
    return item


def forecast_files(predictor, inputs: Sequence[str | Path] = (), texts: Sequence[str] = ()) -> ForecastResult:
    """Forecast the ``horizon`` steps after each CSV file's last window (see the module docstring).

    Args:
        predictor: a loaded :class:`aimodel.inference.predict.Predictor` of a forecasting model.
        inputs: CSV files of the series.
        texts: refused (a forecasting model takes files).
    """
    start = time.perf_counter()
    spec = predictor.spec
    out = [Forecast(input=f"--text {i}", error="--text: a forecasting model takes CSV files of the series")
           for i, _ in enumerate(texts, 1)]
    for raw in inputs:
        item = Forecast(input=str(raw))
        try:
            x, times = last_window(Path(raw), spec)
            values = forecast_values(predictor.backend, x, spec.horizon)[0]
        except AimodelError as exc:
            item.error = str(exc)
            out.append(item)
            continue
        out.append(finish(item, values, times, spec))
    return ForecastResult(predictor.checkpoint, out, time.perf_counter() - start)
