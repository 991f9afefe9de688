"""Evaluate a forecasting model beside the naive forecasts it must beat, on the same test windows.

Baselines (from each window's own inputs; the target is input column 0):

* ``persistence``: the last observed value, repeated over the horizon.
* ``seasonal_naive`` (with ``dataset.season`` s): step k takes the value s·ceil(k/s) steps before it,
  the same point of the last season observed (s ≤ window, so it lies inside the window).

The report (``evaluation.json``, ``evaluate --json``) has the model's ``mae`` and ``rmse`` at the top
level, ``per_step`` (MAE and RMSE of each step t+1...), and each baseline under ``baselines.<name>``
with the same keys; ``per_step.csv`` and ``forecast.png`` (the t+1 forecasts against the truth) are
written beside it.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.fileio import atomic_write_json, atomic_write_text
from aimodel.inference.forecast import forecast_values


def persistence(x: np.ndarray, horizon: int) -> np.ndarray:
    """``(N, horizon)``: each window's last target value (input column 0), repeated."""
    return np.repeat(np.asarray(x, np.float64)[:, -1, :1], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """``(N, horizon)``: step k takes the window's target value ``season * ceil(k / season)`` steps before it."""
    window = x.shape[1]
    steps = np.arange(1, horizon + 1)
    back = season * np.ceil(steps / season).astype(int) - steps  # rows before the window's last one
    if back.max() > window - 1:
        raise ValueError(f"season {season} does not fit in a window of {window}")
    return np.asarray(x, np.float64)[:, window - 1 - back, 0]


def errors(y: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """MAE and RMSE overall and per step (float64 sums)."""
    err = np.asarray(pred, np.float64) - np.asarray(y, np.float64)
    per_step = [{"step": name, "mae": round(float(np.mean(np.abs(err[:, k]))), 6),
                 "rmse": round(float(np.sqrt(np.mean(err[:, k] ** 2))), 6)} for k, name in enumerate(names)]
    return {"mae": round(float(np.mean(np.abs(err))), 6), "rmse": round(float(np.sqrt(np.mean(err ** 2))), 6),
            "per_step": per_step}


def forecast_baselines(x: np.ndarray, y: np.ndarray, spec: InputSpec) -> dict:
    """``{name: {"mae", "rmse", "per_step"}}`` of each naive forecast on these windows."""
    out = {"persistence": errors(y, persistence(x, spec.horizon), spec.class_names)}
    if spec.season:
        out["seasonal_naive"] = errors(y, seasonal_naive(x, spec.horizon, spec.season), spec.class_names)
    return out


def compare(report: dict) -> str:
    """One line: the model's MAE against the best baseline's."""
    name, best = min(report["baselines"].items(), key=lambda kv: kv[1]["mae"])
    if best["mae"] == 0:
        return f"{name.replace('_', ' ')} forecasts these windows exactly"
    change = (report["mae"] - best["mae"]) / best["mae"] * 100
    word = "lower" if change < 0 else "higher"
    return f"the model's MAE is {abs(change):.1f}% {word} than {name.replace('_', ' ')}'s (the best baseline)"


def evaluate_forecast(ckpt, backend, ev, out_dir: Path, batch_size: int = 256) -> dict:
    """Score a forecasting model on ``ev`` (windows ``x``, targets ``y``), beside its baselines; write the files.

    Returns:
        The report written to ``evaluation.json``, plus ``written_to`` and ``files``.
    """
    spec = ckpt.spec
    start = time.perf_counter()
    pred = np.concatenate([forecast_values(backend, b, spec.horizon) for b in _batches(ev.x, batch_size)])
    seconds = time.perf_counter() - start
    report: dict[str, Any] = {"model": str(ckpt.model_path), "data": ev.description, "split": ev.name,
                              "task": "regression", "samples": int(len(ev.y)), "class_names": spec.class_names}
    report.update(errors(ev.y, pred, spec.class_names))
    report["baselines"] = forecast_baselines(ev.x, ev.y, spec)
    report["baseline_note"] = compare(report)
    if ev.note:
        report["note"] = ev.note
    if ckpt.stale:
        report["stale"] = ckpt.stale
    report["seconds"] = round(seconds, 3)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "per_step.csv", per_step_csv(report))
    _plot(out_dir / "forecast.png", ev, pred, report)
    report["files"] = [str(out_dir / f) for f in ("evaluation.json", "per_step.csv", "forecast.png")]
    atomic_write_json(out_dir / "evaluation.json", report)
    report["written_to"] = str(out_dir / "evaluation.json")
    return report


def per_step_csv(report: dict) -> str:
    """``step, model_mae, model_rmse, <baseline>_mae, <baseline>_rmse ...``: one row per step and ``all``."""
    names = list(report["baselines"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["step", "model_mae", "model_rmse"] + [f"{n}_{m}" for n in names for m in ("mae", "rmse")])
    rows = [(s["step"], k) for k, s in enumerate(report["per_step"])] + [("all", None)]
    for step, k in rows:
        writer.writerow([step] + _pair(report, k) + [v for n in names for v in _pair(report["baselines"][n], k)])
    return buf.getvalue()


def _pair(figures: dict, k) -> list:
    """[mae, rmse] of step ``k`` (None: overall)."""
    chosen = figures if k is None else figures["per_step"][k]
    return [chosen["mae"], chosen["rmse"]]


def _plot(path: Path, ev, pred: np.ndarray, report: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from aimodel.fileio import atomic_write

    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(len(ev.y))
    ax.plot(steps, ev.y[:, 0], label="true", color="black", linewidth=1.2)
    ax.plot(steps, pred[:, 0], label=f"model (MAE {report['per_step'][0]['mae']:.4g})", linewidth=1.2)
    ax.plot(steps, persistence(ev.x, 1)[:, 0], label="persistence "
            f"(MAE {report['baselines']['persistence']['per_step'][0]['mae']:.4g})", linewidth=0.8, linestyle="--")
    ax.set_xlabel("test window (time order)")
    ax.set_ylabel("t+1")
    ax.set_title(f"{ev.description}: next-step forecasts")
    ax.legend(loc="best")
    atomic_write(path, lambda p: fig.savefig(p, format="png"), suffix=".png")


def _batches(x: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for begin in range(0, len(x), batch_size):
        yield np.asarray(x[begin:begin + batch_size], np.float32)
