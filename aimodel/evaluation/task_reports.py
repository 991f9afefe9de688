"""The files evaluate writes for regression and multilabel models (classification: :mod:`.reports`).

Regression: ``per_target.csv``, ``errors.csv`` (every sample and target, largest error first),
``predicted_vs_true.png`` and ``residuals.png``. Multilabel: ``per_label.csv`` and ``errors.csv``
(every sample whose predicted label set is not its true one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.evaluation.reports import _csv_text
from aimodel.evaluation.task_metrics import decide, ranked_errors, wrong_label_sets
from aimodel.fileio import atomic_write_text


def _with_input(row: list, inputs: Optional[Sequence[str]], i: int) -> list:
    return row + ([inputs[i]] if inputs is not None else [])


def write_regression_files(out_dir: Path, report: dict, y: np.ndarray, pred: np.ndarray, description: str,
                           inputs: Optional[Sequence[str]] = None) -> list[str]:
    """per_target.csv, errors.csv and the two plots; the names written."""
    from aimodel.evaluation.plots import write_residuals_png, write_scatter_png

    names = report["target_names"]
    y, pred = np.asarray(y, np.float64).reshape(len(y), -1), np.asarray(pred, np.float64).reshape(len(pred), -1)
    keys = ("mae", "rmse", "r2", "mean", "std", "mean_predicted")
    rows = [["target", *keys]] + [[t["target"], *(t[k] for k in keys)] for t in report["per_target"]]
    atomic_write_text(out_dir / "per_target.csv", _csv_text(rows))
    rows = [["rank", "index", "target", "true", "predicted", "error", "abs_error"]
            + (["input"] if inputs is not None else [])]
    for rank, (i, j) in enumerate(ranked_errors(y, pred), 1):
        error = float(pred[i, j] - y[i, j])
        rows.append(_with_input([rank, i, names[j], round(float(y[i, j]), 6), round(float(pred[i, j]), 6),
                                 round(error, 6), round(abs(error), 6)], inputs, i))
    atomic_write_text(out_dir / "errors.csv", _csv_text(rows))
    r2 = "n/a" if report["r2"] is None else f"{report['r2']:.3f}"
    title = f"{description}\n{report['samples']} samples, MAE {report['mae']:.4g}, R² {r2}"
    write_scatter_png(y, pred, names, out_dir / "predicted_vs_true.png", title)
    write_residuals_png(y, pred, names, out_dir / "residuals.png", title)
    return ["evaluation.json", "per_target.csv", "errors.csv", "predicted_vs_true.png", "residuals.png"]


def write_multilabel_files(out_dir: Path, report: dict, y: np.ndarray, probs: np.ndarray, separator: str,
                           inputs: Optional[Sequence[str]] = None) -> list[str]:
    """per_label.csv and errors.csv; the names written."""
    names, thresholds = report["label_names"], report["thresholds"]
    keys = ("threshold", "precision", "recall", "f1", "support", "predicted")
    rows = [["label", *keys]] + [[r["label"], *(r[k] for k in keys)] for r in report["per_label"]]
    atomic_write_text(out_dir / "per_label.csv", _csv_text(rows))
    truth, decided = np.asarray(y) > 0.5, decide(probs, thresholds).astype(bool)

    def joined(flags) -> str:
        return separator.join(n for n, on in zip(names, flags) if on)

    rows = [["rank", "index", "true", "predicted", "missed", "extra", "probabilities"]
            + (["input"] if inputs is not None else [])]
    for rank, i in enumerate(wrong_label_sets(y, probs, thresholds), 1):
        shown = " ".join(f"{n}={probs[i, j]:.3f}" for j, n in enumerate(names))
        rows.append(_with_input([rank, int(i), joined(truth[i]), joined(decided[i]), joined(truth[i] & ~decided[i]),
                                 joined(decided[i] & ~truth[i]), shown], inputs, int(i)))
    atomic_write_text(out_dir / "errors.csv", _csv_text(rows))
    return ["evaluation.json", "per_label.csv", "errors.csv"]
