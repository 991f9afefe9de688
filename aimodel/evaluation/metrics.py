"""Classification metrics from labels and predicted probabilities.

Per-class precision, recall and F1 come straight from the confusion matrix
(rows: true class, columns: predicted class); they match scikit-learn's
``precision_recall_fscore_support(..., zero_division=0)``, and the macro and
weighted averages match its ``average="macro"`` / ``"weighted"`` (averaged over
the classes that occur in the labels or the predictions, as scikit-learn does).
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = how many samples of true class i were predicted as j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def averages(cm: np.ndarray) -> dict[str, dict[str, float]]:
    """Macro and support-weighted averages over the classes present in labels or predictions."""
    scores = per_class_scores(cm)
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    support = scores["support"][present].astype(np.float64)
    out = {}
    for name, weights in (("macro", np.ones_like(support)), ("weighted", support)):
        total = weights.sum()
        out[name] = {k: float((scores[k][present] * weights).sum() / total) if total > 0 else 0.0
                     for k in ("precision", "recall", "f1")}
    return out


def log_loss(y_true: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean cross-entropy of the true class (probabilities clipped to [eps, 1])."""
    p = probs[np.arange(len(y_true)), y_true]
    return float(-np.log(np.clip(p, eps, 1.0)).mean())


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k most probable (ties: lower index first)."""
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == y_true[:, None]).any(axis=1).mean())


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> Optional[float]:
    """Binary ROC AUC of class 1's probability; None unless both classes occur."""
    if probs.shape[1] != 2 or len(np.unique(y_true)) != 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, probs[:, 1]))


def most_confused(cm: np.ndarray, class_names: list[str], limit: int = 10) -> list[dict]:
    """The largest off-diagonal cells: which true class is most often taken for which."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    support = cm.sum(axis=1)
    cells = [(int(off[i, j]), i, j) for i, j in zip(*np.nonzero(off))]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [{"true": class_names[i], "predicted": class_names[j], "count": n,
             "share_of_true": round(n / int(support[i]), 4)} for n, i, j in cells[:limit]]


def classification_report(y_true: np.ndarray, probs: np.ndarray, class_names: list[str], top_k: int = 3) -> dict:
    """Every headline and per-class number evaluate writes, as plain JSON-ready values.

    Args:
        y_true: int labels ``(N,)`` in ``0..len(class_names)-1``.
        probs: class probabilities ``(N, n_classes)``.
        class_names: names of the model's classes, in output order.
        top_k: k of the top-k accuracy (capped at the number of classes).
    """
    y_true = np.asarray(y_true, np.int64)
    n = len(class_names)
    pred = probs.argmax(axis=1)
    cm = confusion(y_true, pred, n)
    scores = per_class_scores(cm)
    k = max(1, min(top_k, n))

    def r(x: float) -> float:
        return round(float(x), 6)

    auc = roc_auc(y_true, probs)
    return {
        "samples": int(len(y_true)),
        "loss": r(log_loss(y_true, probs)),
        "accuracy": r((pred == y_true).mean()),
        "top_k": k,
        "top_k_accuracy": r(top_k_accuracy(y_true, probs, k)),
        "roc_auc": r(auc) if auc is not None else None,
        "macro_avg": {key: r(v) for key, v in averages(cm)["macro"].items()},
        "weighted_avg": {key: r(v) for key, v in averages(cm)["weighted"].items()},
        "per_class": [
            {"class": class_names[i], "precision": r(scores["precision"][i]), "recall": r(scores["recall"][i]),
             "f1": r(scores["f1"][i]), "support": int(scores["support"][i])}
            for i in range(n)
        ],
        "most_confused": most_confused(cm, class_names),
        "class_names": list(class_names),
        "confusion_matrix": cm.tolist(),
    }
