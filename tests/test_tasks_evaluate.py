"""evaluate for task: regression and task: multilabel: the report's figures (checked against scikit-learn),
plots and errors.csv, baselines (baseline.json and the report), multilabel thresholds chosen after training
and used, evaluate --data FILE.csv, and the refusals of training.threshold."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.errors import ConfigError
from tests.conftest import write_config

LABELS = ("p", "q", "r")


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _features(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3))


def _target(x: np.ndarray) -> np.ndarray:
    return 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] + 50  # near-linear, far from 0 (the unit must come back)


def write_regression_csv(path: Path, n: int = 200, seed: int = 0, order=("a", "b", "c", "y")) -> Path:
    x = _features(n, seed)
    y = _target(x) + np.random.default_rng(seed + 1).normal(scale=0.1, size=n)
    cols = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y}
    lines = [",".join(order)] + [",".join(f"{cols[c][i]:.5f}" for c in order) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _label_set(row: np.ndarray) -> str:
    return ";".join(name for name, v in zip(LABELS, row) if v > 0)


def write_multilabel_csv(path: Path, n: int = 200, seed: int = 0) -> Path:
    x = _features(n, seed)
    lines = ["a,b,c,tags"] + [",".join(f"{v:.5f}" for v in row) + "," + _label_set(row) for row in x]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(tmp: Path, name: str, task: str, data: Path, label: str, epochs: int = 8, **training) -> Path:
    config = write_config(tmp / f"{name}.yaml", {
        "name": name, "seed": 1, "task": task,
        "dataset": {"name": "csv", "path": str(data), "label": label, "validation_split": 0.2},
        "model": {"architecture": "mlp", "units": [32]},
        "training": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.01, **training},
    })
    result = _invoke("train", config, "--run-dir", tmp / name)
    assert result.exit_code == 0, result.output
    return tmp / name


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("regression")
    return _train(tmp, "reg", "regression", write_regression_csv(tmp / "reg.csv"), "y")


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("multilabel")
    return _train(tmp, "ml", "multilabel", write_multilabel_csv(tmp / "ml.csv"), "tags", threshold="tune")


def _test_split(run: Path):
    from aimodel.data import load_data
    from aimodel.inference.checkpoint import load_model

    cfg = load_config(run / "config.yaml")
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    model = load_model(run / "best.keras")
    x = {k: np.asarray(v) for k, v in bundle.test.x.items()}
    return bundle, np.asarray(model.predict(x, verbose=0))


def _evaluate_json(*args) -> dict:
    result = _invoke("evaluate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_regression_report_matches_scikit_learn_and_writes_plots(regression_run):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    report = _evaluate_json(regression_run)
    bundle, pred = _test_split(regression_run)
    assert report["task"] == "regression" and report["samples"] == len(bundle.test)
    assert report["mae"] == pytest.approx(mean_absolute_error(bundle.test.y, pred), abs=1e-4)
    assert report["rmse"] == pytest.approx(np.sqrt(mean_squared_error(bundle.test.y, pred)), abs=1e-4)
    assert report["r2"] == pytest.approx(r2_score(bundle.test.y, pred), abs=1e-4)
    assert report["r2"] > 0.5  # a near-linear problem, learned in the target's unit (mean 50)
    assert report["per_target"][0]["target"] == "y" and report["per_target"][0]["mae"] == report["mae"]
    for name in ("predicted_vs_true.png", "residuals.png", "per_target.csv", "errors.csv"):
        assert (regression_run / name).read_bytes()[:4] != b""
    assert (regression_run / "predicted_vs_true.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(regression_run / "errors.csv", encoding="utf-8")))
    assert len(rows) == len(bundle.test)
    errors = [float(r["abs_error"]) for r in rows]
    assert errors == sorted(errors, reverse=True)
    worst = report["worst_errors"][0]
    assert worst["index"] == int(rows[0]["index"])
    assert worst["true"] == pytest.approx(float(bundle.test.y[worst["index"], 0]), abs=1e-4)
    assert worst["error"] == pytest.approx(worst["predicted"] - worst["true"], abs=1e-4)


def test_regression_baselines_in_baseline_json_and_the_report(regression_run):
    record = json.loads((regression_run / "baseline.json").read_text())
    assert record["task"] == "regression" and set(record["model"]) == {"mae", "rmse", "r2"}
    assert set(record["baselines"]) == {"mean", "ridge", "gradient_boosting"}
    assert record["baselines"]["ridge"]["r2"] > 0.99  # the problem is linear
    assert record["baselines"]["mean"]["r2"] < 0.05
    report = _evaluate_json(regression_run)
    assert report["baselines"] == record["baselines"]  # same training split, same test rows
    # Lower MAE is better: ridge (near exact) beats a few-epoch MLP, and the note says so in MAE.
    assert report["baseline_note"].startswith("the ridge baseline is better than the model on these samples: MAE")


def test_better_compares_like_with_like():
    from aimodel.models.baselines import better

    assert better({"mean": {"mae": 2.0}}, {"mae": 1.0}, "regression") is None
    assert "MAE 1.0000 against 2.0000" in better({"ridge": {"mae": 1.0}}, {"mae": 2.0}, "regression")
    assert better({"ridge": {"mae": 0.995}}, {"mae": 1.0}, "regression") is None  # within the margin
    assert "micro f1 0.9000" in better({"lr": {"micro_f1": 0.9}}, {"micro_f1": 0.5}, "multilabel")
    assert better({"majority": {"accuracy": 0.5}}, 0.8) is None
    assert better({"majority": {"accuracy": 0.9}}, 0.8) == ("the majority baseline is better than the model on "
                                                             "these samples: accuracy 0.9000 against 0.8000")


def test_multilabel_thresholds_are_chosen_saved_and_used(multilabel_run, tmp_path):
    from sklearn.metrics import f1_score

    from aimodel.training.thresholds import GRID

    meta = json.loads((multilabel_run / "meta.json").read_text())
    thresholds = meta["input"]["thresholds"]
    assert len(thresholds) == len(LABELS) and all(t in GRID for t in thresholds)
    report = _evaluate_json(multilabel_run)
    assert report["task"] == "multilabel" and report["thresholds"] == thresholds
    assert [r["threshold"] for r in report["per_label"]] == thresholds
    bundle, probs = _test_split(multilabel_run)
    decided = (probs >= np.asarray(thresholds)).astype(int)
    truth = bundle.test.y.astype(int)
    assert report["micro_f1"] == pytest.approx(f1_score(truth, decided, average="micro", zero_division=0), abs=1e-6)
    assert report["macro_f1"] == pytest.approx(f1_score(truth, decided, average="macro", zero_division=0), abs=1e-6)
    assert report["subset_accuracy"] == pytest.approx((truth == decided).all(axis=1).mean(), abs=1e-6)
    assert report["micro_f1"] > 0.7
    assert [r["support"] for r in report["per_label"]] == truth.sum(axis=0).tolist()
    rows = list(csv.DictReader(open(multilabel_run / "errors.csv", encoding="utf-8")))
    assert len(rows) == int((truth != decided).any(axis=1).sum())

    # Another threshold in meta.json changes the decisions evaluate makes.
    copy = tmp_path / "copy"
    shutil.copytree(multilabel_run, copy)
    meta["input"]["thresholds"] = [0.99] * len(LABELS)
    (copy / "meta.json").write_text(json.dumps(meta))
    high = _evaluate_json(copy)
    assert sum(r["predicted"] for r in high["per_label"]) == int((probs >= 0.99).sum())
    assert high["thresholds"] == [0.99] * len(LABELS)


def test_multilabel_baselines(multilabel_run):
    record = json.loads((multilabel_run / "baseline.json").read_text())
    assert set(record["model"]) == {"micro_f1", "macro_f1", "subset_accuracy"}
    assert set(record["baselines"]) == {"majority", "logistic_regression"}
    assert record["baselines"]["logistic_regression"]["micro_f1"] > 0.9  # labels are signs of the features


def test_choose_thresholds_per_label():
    from aimodel.training.thresholds import choose_thresholds

    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]], np.float32)
    probs = np.array([[0.3, 0.9], [0.25, 0.1], [0.1, 0.8], [0.2, 0.7]], np.float32)
    # label 0: 0.25 and 0.3 must pass, 0.2 must not -> the best F1 (1.0) between 0.25 and 0.30 (nearest 0.5);
    # label 1 never occurs: the default
    assert choose_thresholds(y, probs) == [0.25, 0.5]


def test_a_fixed_threshold_and_no_validation_split(tmp_path):
    data = write_multilabel_csv(tmp_path / "ml.csv", n=80)
    run = _train(tmp_path, "fixed", "multilabel", data, "tags", epochs=1, threshold=0.3)
    assert json.loads((run / "meta.json").read_text())["input"]["thresholds"] == [0.3] * len(LABELS)
    # A resumed run sets them again when it ends (its best model may have changed).
    result = _invoke("train", "--resume", run, "--set", "training.epochs=2", "--set", "training.threshold=0.4")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "meta.json").read_text())["input"]["thresholds"] == [0.4] * len(LABELS)
    config = write_config(tmp_path / "noval.yaml", {
        "name": "noval", "seed": 1, "task": "multilabel",
        "dataset": {"name": "csv", "path": str(data), "label": "tags", "validation_split": 0},
        "model": {"architecture": "mlp", "units": [4]},
        "training": {"epochs": 1, "batch_size": 16, "threshold": "tune", "monitor": "val_loss"},
    })
    result = _invoke("train", config, "--run-dir", tmp_path / "noval")
    assert result.exit_code == 0, result.output
    assert "training.threshold: tune needs a validation split" in result.output
    assert json.loads((tmp_path / "noval" / "meta.json").read_text())["input"]["thresholds"] == [0.5] * 3


@pytest.mark.parametrize("task, threshold, match", [
    ("classification", 0.3, r"training\.threshold: sets the multilabel decision threshold; task: classification"),
    ("regression", "tune", r"training\.threshold: .*task: regression has none"),
    ("multilabel", 1.5, r"training\.threshold: must be tune or a number between 0 and 1"),
])
def test_threshold_refusals(tmp_path, task, threshold, match):
    (tmp_path / "x.csv").write_text("a,y\n1,2\n", encoding="utf-8")
    config = write_config(tmp_path / "c.yaml", {
        "name": "c", "task": task, "dataset": {"name": "csv", "path": str(tmp_path / "x.csv"), "label": "y"},
        "model": {"architecture": "mlp"}, "training": {"threshold": threshold},
    })
    with pytest.raises(ConfigError, match=match):
        load_config(config)


def test_evaluate_data_csv_regression_and_multilabel(regression_run, multilabel_run, tmp_path):
    new = write_regression_csv(tmp_path / "new.csv", n=30, seed=9, order=("y", "c", "a", "b"))
    with open(new, "a", encoding="utf-8") as f:
        f.write("NA,1,2,3\n")  # a row without a target is left out, as in training
    report = _evaluate_json(regression_run, "--data", new)
    assert report["samples"] == 30 and report["r2"] > 0.5
    assert (regression_run / "evaluation-new" / "residuals.png").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c,y\n1,2,3,4\n1,2,3,lots\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(regression_run), "--data", str(bad)])
    assert result.exit_code == 1 and "line 3, column 'y': 'lots' is not a number" in result.output

    labelled = write_multilabel_csv(tmp_path / "tags.csv", n=40, seed=4)
    report = _evaluate_json(multilabel_run, "--data", labelled)
    assert report["samples"] == 40 and report["micro_f1"] > 0.6
    folder = tmp_path / "folder"
    (folder / "p").mkdir(parents=True)
    result = CliRunner().invoke(main, ["evaluate", str(multilabel_run), "--data", str(folder)])
    assert result.exit_code == 1 and "pass a CSV file with its label column" in result.output


def test_cli_renders_each_task(regression_run, multilabel_run):
    out = _invoke("evaluate", regression_run).output
    assert "R²" in out and "RMSE" in out and "baseline: ridge" in out and "largest errors" in out
    assert "residuals.png" in out
    out = _invoke("evaluate", multilabel_run).output
    assert "micro F1" in out and "subset accuracy" in out and "per label" in out and "threshold" in out
    listed = _invoke("runs", "list", regression_run.parent).output
    assert "MAE:" in listed
