"""A forecasting model (``dataset.name: timeseries``) on ``POST /predict`` and in ``/metadata``.

An uploaded CSV of the series (a file, or a ``text`` field holding CSV text) is read by
:func:`aimodel.inference.forecast.last_window`, exactly as ``aimodel predict SERIES.csv`` reads a
file (same columns, fill, step, same one-line errors); its last window goes through the server's
batcher, and :func:`aimodel.inference.forecast.finish` gives each step ``t+1``... its time. So the
server answers what ``aimodel predict`` answers. TF Serving REST, KServe V2 and gRPC take raw
windows ``(window, 1 + features)`` instead; :func:`series_contract` says how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Optional

from aimodel.data.spec import InputSpec
from aimodel.data.timeaxis import step_text
from aimodel.errors import AimodelError
from aimodel.inference.forecast import Forecast, finish, last_window
from aimodel.serving.batcher import InputFailed
from aimodel.serving.inputs import FilePart, Prepared


@dataclass
class SeriesPrepared(Prepared):
    """Each upload's last window (``samples``) and its series' time axis (``times``), or why not (``errors``)."""

    times: list[Any] = field(default_factory=list)


def prepare_series(files: list[FilePart], texts: list[str], spec: InputSpec) -> SeriesPrepared:
    """Uploaded files and ``text`` fields (CSV text) -> one window per series; a bad series is its own error."""
    named = [(part.name, part.data) for part in files]
    encoding = spec.text_encoding()[0]
    encoding = "utf-8" if encoding == "auto" else encoding  # "auto" reads UTF-8 first
    for i, text in enumerate(texts, 1):
        name = f"text {i}" if len(texts) > 1 else "text"
        try:
            named.append((name, text.encode(encoding)))
        except UnicodeEncodeError:
            named.append((name, None))
    out = SeriesPrepared([], [], [], times=[])
    for name, data in named:
        window, times, error = None, None, None
        if data is None:
            error = f"{name}: characters that the model's encoding ({encoding}) cannot hold"
        else:
            try:
                x, times = last_window(PurePosixPath(name), spec, data=data)
                window = x[0]
            except AimodelError as exc:
                error = str(exc)
        out.names.append(name)
        out.samples.append(window)
        out.times.append(times)
        out.errors.append(error)
    return out


def forecasts(prepared: SeriesPrepared, results: list, spec: InputSpec) -> list[Forecast]:
    """The batcher's outputs for the ready windows -> one :class:`Forecast` per upload, in upload order."""
    out = [Forecast(input=name, error=error) for name, error in zip(prepared.names, prepared.errors)]
    for i, row in zip(prepared.ready, results):
        if isinstance(row, InputFailed):
            out[i].error = f"{out[i].input}: {row}"
        else:
            finish(out[i], row, prepared.times[i], spec)
    return out


def series_contract(spec: InputSpec, name: str) -> Optional[dict]:
    """``/metadata``'s ``input.series``: the series a CSV upload must hold, and the raw windows the JSON APIs take."""
    if not spec.forecast:
        return None
    columns = [spec.label_column, *(spec.features or [])]
    shape = [spec.window, len(columns)]
    return {
        "time_column": spec.time_column, "target": spec.label_column, "features": list(spec.features or []),
        "window": spec.window, "horizon": spec.horizon, "step": step_text(spec.time_step, spec.time_unit),
        "time_format": spec.time_format, "anchor": spec.anchor or "none", "fill": spec.fill or "none",
        "upload": f"POST /predict with a CSV of the series (columns {', '.join([spec.time_column, *columns])}; "
                  f"at least {spec.window} rows): the {spec.horizon} steps after its last row, with their times",
        "raw_windows": {
            "shape": shape, "columns": columns,
            "values": f"the last {spec.window} rows in time order, raw values in the target's unit (the model "
                      "normalizes inside); one output row per window: steps t+1..t+" f"{spec.horizon}",
            "tf_serving": f'POST /v1/models/{name}:predict {{"instances": [<{shape[0]} rows of {shape[1]} '
                          'numbers>]}',
            "kserve_v2": f'POST /v2/models/{name}/infer {{"inputs": [{{"name": "<input name from '
                         f'/v2/models/{name}>", "datatype": "FP32", "shape": [1, {shape[0]}, {shape[1]}], '
                         '"data": [...]}]}',
        },
    }
