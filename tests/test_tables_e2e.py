"""A header-less table with missing values, end to end: train (baseline.json), predict, evaluate --data,
serve and tflite/onnx exports all read it by the saved column names and fill missing cells the same way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests.conftest import write_config
from tests.test_tables_missing import COLUMNS, rows, write_rows


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tables_e2e")
    data = write_rows(tmp / "pima.csv", rows(120))
    config = write_config(tmp / "t.yaml", {
        "name": "t", "seed": 1,
        "dataset": {"name": "csv", "path": str(data), "columns": COLUMNS, "label": "outcome",
                    "zero_means_missing": ["bmi"], "class_names": {0: "healthy", 1: "diabetic"},
                    "validation_split": 0.2},
        "model": {"architecture": "mlp", "units": [8]},
        "training": {"epochs": 2, "batch_size": 16},
    })
    result = _invoke("train", config, "--run-dir", tmp / "run")
    assert result.exit_code == 0, result.output
    assert "baseline: logistic regression" in result.output and "aimodel cv" in result.output
    return tmp / "run"


def test_baseline_json_matches_scikit_learn_on_the_same_split(run):
    from sklearn.linear_model import LogisticRegression

    from aimodel.config import load_config
    from aimodel.data import load_data

    record = json.loads((run / "baseline.json").read_text())
    cfg = load_config(run / "config.yaml")
    b = load_data(cfg.dataset, cfg.seed)
    assert record["samples"] == len(b.test)
    majority = np.bincount(b.train.y).argmax()
    assert record["baselines"]["majority"]["accuracy"] == round(float(np.mean(b.test.y == majority)), 6)

    def features(x, train):  # median fill + was-missing + standardize; one-hot smoker, by hand
        cols = []
        for name in ("glucose", "bmi"):
            t = train[name]
            med = np.median(t[~np.isnan(t)])
            filled_t = np.where(np.isnan(t), med, t)
            v = np.where(np.isnan(x[name]), med, x[name])
            cols += [(v - filled_t.mean()) / filled_t.std(), np.isnan(x[name]).astype(float)]
        for value in sorted(set(train["smoker"])):
            cols.append((x["smoker"] == value).astype(float))
        cols.append(np.zeros(len(x["smoker"])))
        return np.stack(cols, axis=1)

    lr = LogisticRegression(max_iter=2000, random_state=cfg.seed).fit(features(b.train.x, b.train.x), b.train.y)
    want = float(np.mean(lr.predict(features(b.test.x, b.train.x)) == b.test.y))
    assert record["baselines"]["logistic_regression"]["accuracy"] == pytest.approx(want, abs=1e-6)

    listed = json.loads(_invoke("runs", "list", run, "--json").output)[0]
    assert listed["baselines"] == record["baselines"] and listed["test_accuracy"] == record["model"]["accuracy"]


def test_a_resumed_run_writes_baseline_json_for_its_final_model(run, tmp_path):
    """A run stopped before its end (no baseline.json yet) and resumed, or one extended: baseline.json is
    written for the model the run ends with, as evaluate scores it."""
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "baseline.json").unlink()
    result = _invoke("train", "--resume", copy, "--set", "training.epochs=4")
    assert result.exit_code == 0, result.output
    assert "baseline: logistic regression" in result.output
    record = json.loads((copy / "baseline.json").read_text())
    evaluated = _invoke("evaluate", copy, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert record["samples"] == report["samples"]
    assert record["model"]["accuracy"] == pytest.approx(report["accuracy"], abs=1e-6)


def test_predict_and_evaluate_a_headerless_file_with_missing_cells(run, tmp_path):
    features = write_rows(tmp_path / "new.csv", ["?,0,NA", "180,30,yes", ",,"])  # no label column, no header
    got = json.loads(_invoke("predict", features, "--model", run, "--json").output)["predictions"]
    assert [p.get("error") for p in got] == [None, None, None]
    assert {p["label"] for p in got} <= {"healthy", "diabetic"}
    labelled = write_rows(tmp_path / "labelled.csv", rows(40, seed=5))  # coded labels, as trained
    result = _invoke("evaluate", run, "--data", labelled, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 40 and set(report["baselines"]) == {"majority", "logistic_regression"}
    assert 0 <= report["baselines"]["logistic_regression"]["accuracy"] <= 1


def test_predict_and_evaluate_read_a_spreadsheet_as_its_csv(run, tmp_path):
    from tests.test_tables_missing import write_sheet

    lines = rows(30, seed=6)
    csv_file = write_rows(tmp_path / "new.csv", lines, header=",".join(COLUMNS))
    cells = [[float(c) if c.replace(".", "").isdigit() else (None if c == "" else c) for c in line.split(",")]
             for line in lines]
    sheet = write_sheet(tmp_path / "new.xlsx", [COLUMNS] + cells)
    from_csv, from_sheet = (json.loads(_invoke("predict", f, "--model", run, "--json").output)["predictions"]
                            for f in (csv_file, sheet))
    assert len(from_sheet) == 30 and [p.get("error") for p in from_sheet] == [None] * 30
    assert [(p["label"], p["confidence"]) for p in from_sheet] == [(p["label"], p["confidence"]) for p in from_csv]
    reports = [json.loads(_invoke("evaluate", run, "--data", f, "--json").output) for f in (csv_file, sheet)]
    assert reports[0]["samples"] == reports[1]["samples"] == 30
    assert reports[0]["accuracy"] == reports[1]["accuracy"] and reports[0]["per_class"] == reports[1]["per_class"]


@pytest.mark.serve
def test_serve_takes_missing_cells_as_csv_rows_and_json_nulls(run):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    model = ServedModel(run, name="t")
    with TestClient(create_app(model, ServeSettings(model=str(run)))) as c:
        up = c.post("/predict", files={"file": ("x.csv", b"?,0,NA\n150,,no\n", "text/csv")})
        assert up.status_code == 200, up.text
        labels = [p["label"] for p in up.json()["predictions"]]
        assert len(labels) == 2 and set(labels) <= {"healthy", "diabetic"}
        tf = c.post("/v1/models/t:predict", json={"instances": [{"glucose": None, "bmi": 0, "smoker": "?"},
                                                                 {"glucose": 150.0, "smoker": "no"}]})
        assert tf.status_code == 200, tf.text
        assert np.isfinite(np.asarray(tf.json()["predictions"])).all()


@pytest.mark.export
def test_exports_fill_missing_cells_as_the_keras_model_does(run, tmp_path):
    result = _invoke("export", run, "--format", "tflite,onnx", "--quantize", "none", "--json")
    assert result.exit_code == 0, result.output
    assert all(r["status"] == "ok" for r in json.loads(result.output)["exports"])
    data = write_rows(tmp_path / "x.csv", ["?,0,NA", "150,,no", "90,25,yes", ",,"])
    want = json.loads(_invoke("predict", data, "--model", run, "--json").output)["predictions"]
    for name in ("model.tflite", "model.onnx"):
        got = json.loads(_invoke("predict", data, "--model", run / "exports" / name, "--json").output)
        got = got["predictions"]
        assert [p["label"] for p in got] == [p["label"] for p in want], name
        assert np.allclose([p["confidence"] for p in got], [p["confidence"] for p in want], atol=1e-4), name
