"""Regression and multilabel metrics from labels and the model's outputs (see :mod:`aimodel.tasks`).

Regression: MAE, RMSE and R² per target, and overall as the mean over targets (scikit-learn's
``multioutput="uniform_average"``). Multilabel: per-label precision, recall, F1 and support of the
0/1 decisions (probability ≥ the label's threshold), micro and macro averages over all labels
(scikit-learn's ``average="micro"`` / ``"macro"`` with ``zero_division=0``), and subset accuracy
(the share of samples whose whole label set is right).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

#: how many of the largest errors a regression report lists (errors.csv has them all)
WORST = 10


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def r2_score(y: np.ndarray, pred: np.ndarray) -> Optional[float]:
    """1 - SS_res / SS_tot of one target; None when the true values do not vary (R² is undefined)."""
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if len(y) < 2 or ss_tot <= 0:
        return None
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def regression_figures(y: np.ndarray, pred: np.ndarray) -> dict:
    """``{"mae", "rmse", "r2"}`` over all targets (each the mean of the per-target figures)."""
    y, pred = _as_2d(y), _as_2d(pred)
    err = pred - y
    mae = np.abs(err).mean(axis=0)
    rmse = np.sqrt((err ** 2).mean(axis=0))
    r2 = [r2_score(y[:, j], pred[:, j]) for j in range(y.shape[1])]
    known = [v for v in r2 if v is not None]
    return {"mae": _r(mae.mean()), "rmse": _r(rmse.mean()), "r2": _r(np.mean(known)) if known else None}


def _as_2d(a) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a[:, None] if a.ndim == 1 else a


def ranked_errors(y: np.ndarray, pred: np.ndarray) -> list[tuple[int, int]]:
    """``(sample, target)`` pairs, largest error first; errors are compared in units of each target's spread."""
    y, pred = _as_2d(y), _as_2d(pred)
    spread = y.std(axis=0)
    scaled = np.abs(pred - y) / np.where(spread > 0, spread, 1.0)
    order = np.argsort(-scaled, axis=None, kind="stable")
    return [(int(i), int(j)) for i, j in zip(*np.unravel_index(order, scaled.shape))]


def regression_report(y: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict:
    """Every headline and per-target number evaluate writes for a regression model.

    Args:
        y: true values ``(N, T)`` in the targets' units.
        pred: the model's values ``(N, T)``, same units.
        names: the targets' names, in output order.
    """
    y, pred = _as_2d(y), _as_2d(pred)
    per_target = []
    for j, name in enumerate(names):
        figures = regression_figures(y[:, j], pred[:, j])
        per_target.append({"target": name, **figures, "mean": _r(y[:, j].mean()), "std": _r(y[:, j].std()),
                           "mean_predicted": _r(pred[:, j].mean())})
    worst = [{"index": i, "target": names[j], "true": _r(y[i, j]), "predicted": _r(pred[i, j]),
              "error": _r(pred[i, j] - y[i, j])} for i, j in ranked_errors(y, pred)[:WORST]]
    return {"samples": int(len(y)), **regression_figures(y, pred),
            "mse": _r(((pred - y) ** 2).mean()), "per_target": per_target, "target_names": list(names),
            "worst_errors": worst}


def decide(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """0/1 decisions ``(N, L)``: a label is predicted when its probability reaches its threshold."""
    return (np.asarray(probs) >= np.asarray(thresholds, np.float32)[None, :]).astype(np.int64)


def multilabel_figures(y: np.ndarray, decided: np.ndarray) -> dict:
    """``{"micro_f1", "macro_f1", "subset_accuracy"}`` of 0/1 decisions against 0/1 labels ``(N, L)``."""
    y, decided = (np.asarray(y) > 0.5).astype(np.int64), np.asarray(decided, np.int64)
    tp, predicted, support = (y * decided).sum(axis=0), decided.sum(axis=0), y.sum(axis=0)
    micro_den = predicted.sum() + support.sum()
    return {"micro_f1": _r(2 * tp.sum() / micro_den if micro_den else 0.0),
            "macro_f1": _r(_ratio(2 * tp, predicted + support).mean()),
            "subset_accuracy": _r((y == decided).all(axis=1).mean())}


def multilabel_report(y: np.ndarray, probs: np.ndarray, names: Sequence[str], thresholds: Sequence[float]) -> dict:
    """Every headline and per-label number evaluate writes for a multilabel model.

    Args:
        y: 0/1 labels ``(N, L)``.
        probs: the model's per-label probabilities ``(N, L)``.
        names: the labels, in output order.
        thresholds: each label's decision threshold.
    """
    truth = (np.asarray(y) > 0.5).astype(np.int64)
    decided = decide(probs, thresholds)
    tp, predicted, support = (truth * decided).sum(axis=0), decided.sum(axis=0), truth.sum(axis=0)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    loss = -(truth * np.log(p) + (1 - truth) * np.log(1 - p)).mean()
    micro_p, micro_r = (_ratio(tp.sum(keepdims=True), n.sum(keepdims=True))[0] for n in (predicted, support))
    figures = multilabel_figures(truth, decided)
    return {
        "samples": int(len(truth)), **figures, "loss": _r(loss), "hamming_loss": _r((truth != decided).mean()),
        "micro_avg": {"precision": _r(micro_p), "recall": _r(micro_r), "f1": figures["micro_f1"]},
        "macro_avg": {"precision": _r(precision.mean()), "recall": _r(recall.mean()), "f1": _r(f1.mean())},
        "per_label": [{"label": n, "threshold": _r(thresholds[j]), "precision": _r(precision[j]),
                       "recall": _r(recall[j]), "f1": _r(f1[j]), "support": int(support[j]),
                       "predicted": int(predicted[j])} for j, n in enumerate(names)],
        "label_names": list(names), "thresholds": [float(t) for t in thresholds],
        "rows_without_label": int((truth.sum(axis=1) == 0).sum()),
    }


def wrong_label_sets(y: np.ndarray, probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Samples whose predicted set differs from the true one: most wrong labels first, then most confident."""
    truth = np.asarray(y) > 0.5
    decided = decide(probs, thresholds).astype(bool)
    wrong = truth != decided
    count = wrong.sum(axis=1)
    margin = np.where(wrong, np.abs(np.asarray(probs) - np.asarray(thresholds)[None, :]), 0.0).max(axis=1)
    rows = np.nonzero(count)[0]
    return rows[np.lexsort((-margin[rows], -count[rows]))]
