"""evaluate on text and tabular models: batches of raw strings / columns, errors.csv shows the text.

Until text and tabular dataset sources exist, the samples are handed to evaluate
in the ``Split.x`` layout of the data kinds contract (strings; dict of columns).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from aimodel.evaluation import evaluate as evaluate_module
from aimodel.evaluation.sources import EvalData
from tests.test_predict_kinds import tabular_run, text_run  # noqa: F401  (fixtures)


def _evaluate_on(monkeypatch, run, x, y, out):
    monkeypatch.setattr(evaluate_module, "load_eval_data",
                        lambda ckpt, spec, split, data: EvalData(x, np.asarray(y), "hand-made samples", "hand"))
    return evaluate_module.evaluate(run, data="unused", out=out, batch_size=2)


def test_text_model_evaluation(text_run, tmp_path, monkeypatch):  # noqa: F811
    x = np.array(["good movie", "bad", "so bad", "good", "bad good bad", "movie good"])
    y = [1, 0, 1, 1, 0, 0]  # "so bad" labelled pos and "movie good" labelled neg: two errors
    report = _evaluate_on(monkeypatch, text_run, x, y, tmp_path / "out")
    assert report["confusion_matrix"] == [[2, 1], [1, 2]] and report["roc_auc"] is not None
    with open(tmp_path / "out" / "errors.csv", newline="") as f:
        errors = list(csv.DictReader(f))
    assert sorted(e["input"] for e in errors) == ["movie good", "so bad"]
    assert not (tmp_path / "out" / "errors.png").exists()  # an image grid only for image data
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text())["samples"] == 6


def test_tabular_model_evaluation(tabular_run, tmp_path, monkeypatch):  # noqa: F811
    x = {"size": np.array([1.0, -2.0, 3.0, -1.0, 0.5], np.float32),
         "colour": np.array(["red", "red", "blue", "blue", "red"], dtype=object)}
    y = [1, 0, 1, 0, 0]  # the last one (size 0.5 → big) is wrong
    report = _evaluate_on(monkeypatch, tabular_run, x, y, tmp_path / "out")
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["per_class"][1] == {"class": "big", "precision": pytest.approx(2 / 3, abs=1e-6),
                                      "recall": 1.0, "f1": pytest.approx(0.8, abs=1e-6), "support": 2}
