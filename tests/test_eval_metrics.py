"""Metrics from a known confusion, checked against scikit-learn; class alignment of other datasets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from aimodel.errors import DataError
from aimodel.evaluation.metrics import classification_report, confusion, most_confused
from aimodel.evaluation.sources import align_labels
from aimodel.inference.checkpoint import class_probabilities

# A known confusion over 4 classes (rows true, columns predicted); class 3 is never predicted
# and class 2's row has no correct answers, so zero divisions are exercised too.
KNOWN = np.array([
    [8, 1, 1, 0],
    [2, 5, 3, 0],
    [0, 4, 0, 1],
    [1, 0, 0, 0],
])
NAMES = ["cat", "dog", "fox", "owl"]


def _samples_from(cm: np.ndarray, seed: int = 0):
    """Labels, predictions and probabilities whose argmax realises exactly the confusion ``cm``."""
    y, pred = [], []
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            y += [i] * cm[i, j]
            pred += [j] * cm[i, j]
    y, pred = np.array(y), np.array(pred)
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.0, 0.2, size=(len(y), cm.shape[1]))
    probs[np.arange(len(y)), pred] = rng.uniform(0.5, 1.0, size=len(y))
    return y, pred, (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def test_per_class_and_averages_match_sklearn_on_a_known_confusion():
    y, pred, probs = _samples_from(KNOWN)
    report = classification_report(y, probs, NAMES, top_k=2)
    np.testing.assert_array_equal(report["confusion_matrix"], KNOWN)
    np.testing.assert_array_equal(report["confusion_matrix"], sk.confusion_matrix(y, pred, labels=range(4)))

    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=range(4), zero_division=0)
    rows = report["per_class"]
    assert [row["class"] for row in rows] == NAMES
    np.testing.assert_allclose([row["precision"] for row in rows], p, atol=1e-6)
    np.testing.assert_allclose([row["recall"] for row in rows], r, atol=1e-6)
    np.testing.assert_allclose([row["f1"] for row in rows], f, atol=1e-6)
    assert [row["support"] for row in rows] == s.tolist() == [10, 10, 5, 1]
    # Hand-checked cells: dog precision 5/10, fox recall 0/5, owl never predicted.
    assert rows[1]["precision"] == 0.5 and rows[2]["recall"] == 0.0 and rows[3]["precision"] == 0.0

    for avg in ("macro", "weighted"):
        ap, ar, af, _ = sk.precision_recall_fscore_support(y, pred, average=avg, zero_division=0)
        got = report[f"{avg}_avg"]
        assert got == pytest.approx({"precision": ap, "recall": ar, "f1": af}, abs=1e-6)
    assert report["accuracy"] == pytest.approx(sk.accuracy_score(y, pred), abs=1e-6) == pytest.approx(13 / 26)
    assert report["loss"] == pytest.approx(sk.log_loss(y, probs, labels=range(4)), abs=1e-5)
    assert report["top_k"] == 2
    assert report["top_k_accuracy"] == pytest.approx(sk.top_k_accuracy_score(y, probs, k=2, labels=range(4)))
    assert report["roc_auc"] is None  # four classes


def test_averages_skip_classes_absent_from_labels_and_predictions_like_sklearn():
    cm = np.array([[3, 1, 0], [2, 4, 0], [0, 0, 0]])  # the model knows 3 classes, the data has 2
    y, pred, probs = _samples_from(cm)
    report = classification_report(y, probs, ["a", "b", "c"])
    ap, ar, af, _ = sk.precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    assert report["macro_avg"] == pytest.approx({"precision": ap, "recall": ar, "f1": af}, abs=1e-6)
    assert report["per_class"][2] == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["top_k"] == 3 and report["top_k_accuracy"] == 1.0


def test_most_confused_lists_the_biggest_off_diagonal_cells_first():
    pairs = most_confused(KNOWN, NAMES, limit=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("fox", "dog", 4), ("dog", "fox", 3), ("dog", "cat", 2)]
    assert pairs[0]["share_of_true"] == 0.8


def test_binary_sigmoid_output_becomes_two_columns_and_gets_roc_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.uniform(0, 0.4, 200), 0, 1)  # P(class 1), one sigmoid unit
    probs = class_probabilities(p1[:, None])
    assert probs.shape == (200, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    report = classification_report(y, probs, ["no", "yes"])
    assert report["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p1), abs=1e-6)
    assert report["loss"] == pytest.approx(sk.log_loss(y, p1), abs=1e-5)
    assert report["accuracy"] == pytest.approx(sk.accuracy_score(y, p1 > 0.5), abs=1e-6)
    # Softmax output (N, 2) gives the same numbers.
    assert classification_report(y, np.stack([1 - p1, p1], 1), ["no", "yes"])["roc_auc"] == report["roc_auc"]


def test_confusion_counts_every_sample():
    y = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    assert confusion(y, pred, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_align_labels_matches_classes_by_name():
    y = np.array([0, 1, 1, 0])  # data order: dog, cat
    np.testing.assert_array_equal(align_labels(y, ["dog", "cat"], ["cat", "dog", "owl"], "x"), [1, 0, 0, 1])
    np.testing.assert_array_equal(align_labels(y, ["cat", "dog"], ["cat", "dog"], "x"), y)
    with pytest.raises(DataError, match=r"--data d\.npz: class\(es\) 'emu' are not classes of the model; "
                                        r"the model knows: cat, dog"):
        align_labels(np.array([0, 1]), ["cat", "emu"], ["cat", "dog"], "--data d.npz")
