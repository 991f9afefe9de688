"""Regression and multilabel after training (issue 26): export verified with the task's own figures, tune with a
task objective, k-fold cv, data inspect, model summary and runs list. Tiny CSV tables, 2-epoch MLPs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests.conftest import write_config

ROWS = 150


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _tables(folder: Path) -> tuple[Path, Path]:
    """reg.csv (a price around 100, in its own unit) and ml.csv (labels red;big;odd), from the same features."""
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, ROWS))
    cat = rng.choice(["x", "y", "z"], ROWS)
    price = 100 + 20 * a - 10 * b + 5 * (cat == "x") + rng.normal(size=ROWS)
    reg, ml = folder / "reg.csv", folder / "ml.csv"
    with open(reg, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "cat", "price"])
        w.writerows([f"{a[i]:.4f}", f"{b[i]:.4f}", f"{c[i]:.4f}", cat[i], f"{price[i]:.3f}"] for i in range(ROWS))
    with open(ml, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "tags"])
        for i in range(ROWS):
            tags = [t for t, on in (("red", a[i] > 0), ("big", b[i] > 0.3), ("odd", c[i] < -0.5)) if on]
            w.writerow([f"{a[i]:.4f}", f"{b[i]:.4f}", f"{c[i]:.4f}", ";".join(tags)])
    return reg, ml


def _config(path: Path, task: str, data: Path, label: str, **extra) -> Path:
    return write_config(path, {
        "name": path.stem, "seed": 1, "task": task,
        "dataset": {"name": "csv", "path": str(data), "label": label, "validation_split": 0.2},
        "model": {"architecture": "mlp", "units": [8]},
        "training": {"epochs": 2, "batch_size": 16}, **extra})


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("tasks_export")
    reg_csv, ml_csv = _tables(tmp)
    ns = SimpleNamespace(tmp=tmp, reg_cfg=_config(tmp / "reg.yaml", "regression", reg_csv, "price"),
                         ml_cfg=_config(tmp / "ml.yaml", "multilabel", ml_csv, "tags"),
                         reg=tmp / "runs" / "reg" / "1", ml=tmp / "runs" / "ml" / "1")
    for cfg, run in ((ns.reg_cfg, ns.reg), (ns.ml_cfg, ns.ml)):
        result = _invoke("train", cfg, "--run-dir", run)
        assert result.exit_code == 0, result.output
    return ns


# --- export -------------------------------------------------------------------------------------


@pytest.mark.export
def test_regression_exports_answer_in_the_targets_unit_and_are_verified_by_mae(tasks):
    from aimodel.evaluation.evaluate import _batches
    from aimodel.inference.checkpoint import BACKENDS, Checkpoint, read_meta
    from aimodel.evaluation.sources import load_eval_data

    result = _invoke("export", tasks.reg, "--format", "tflite,onnx", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["task"] == "regression" and report["outputs"] == ["price"]
    assert "mae" in report["keras"] and "accuracy" not in report["keras"]
    for row in report["exports"]:
        assert row["status"] == "ok", row
        assert row["max_diff_std"] < 1e-3 and abs(row["mae_diff_std_points"]) < 0.1
        assert row["limits"] == {"tolerance_points": 1.0, "max_output_diff": 0.01}
        side = json.loads((tasks.reg / "exports" / f"{row['file']}.json").read_text())["export"]
        assert (side["task"], side["outputs"], side["output_unit"]) == ("regression", ["price"], "target")

    # the target_units layer travels: every format answers in the price's unit, as best.keras does
    ckpt = Checkpoint(model_path=tasks.reg / "best.keras", run_dir=tasks.reg, meta=read_meta(tasks.reg))
    test = load_eval_data(ckpt, ckpt.spec, "test")
    batch = next(_batches(test.x, ckpt.spec, 256))
    keras_values = BACKENDS.get("keras")(tasks.reg / "best.keras").predict_proba(batch)[:, 1]
    train_y = json.loads((tasks.reg / "data.json").read_text())["splits"]["train"]["targets"]["price"]
    assert abs(keras_values.mean() - train_y["mean"]) < 2 * train_y["std"]  # standardized outputs would be ~0
    for fmt, name in (("tflite", "model.tflite"), ("onnx", "model.onnx")):
        values = BACKENDS.get(fmt)(tasks.reg / "exports" / name).predict_proba(batch)[:, 1]
        np.testing.assert_allclose(values, keras_values, rtol=1e-4, atol=1e-3)


@pytest.mark.export
def test_multilabel_exports_are_verified_by_micro_f1_and_per_label_probabilities(tasks):
    result = _invoke("export", tasks.ml, "--format", "tflite,onnx", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["task"] == "multilabel" and report["outputs"] == ["big", "odd", "red"]
    for row in report["exports"]:
        assert row["status"] == "ok" and row["agreement"] == 1.0 and row["micro_f1_diff_points"] == 0.0, row
        assert set(row["max_prob_diff_per_label"]) == {"big", "odd", "red"} and row["max_prob_diff"] < 1e-4
        assert row["micro_f1"] == report["keras"]["micro_f1"]
        side = json.loads((tasks.ml / "exports" / f"{row['file']}.json").read_text())["export"]
        assert side["task"] == "multilabel" and side["thresholds"] == [0.5, 0.5, 0.5]
    text = _invoke("export", tasks.ml, "--format", "onnx").output  # up to date: one line, exit 0
    assert "up to date" in text


def _test_batches(task: str, y, names, scale=None):
    from aimodel.export.verify import TestBatches

    spec = SimpleNamespace(task=task, class_names=names, thresholds=None)
    return TestBatches(x=None, y=np.asarray(y), spec=spec, description="t", batch_size=8, scale=scale)


def test_regression_check_fails_an_export_beyond_its_stated_limits():
    from aimodel.export.verify import Measurement, row

    y = np.linspace(0, 100, 50, dtype=np.float32)[:, None]
    test = _test_batches("regression", y, ["price"], scale=[20.0])
    ref = Measurement(y + 5.0, 1.0, 1.0)  # MAE 5
    near = Measurement(y + 5.1, 1.0, 1.0)  # 0.1 more: 0.5% of the std, 0.005 std apart
    far = Measurement(y + 5.5, 1.0, 1.0)  # 0.5 more: 2.5% of the std
    ok = row("m.onnx", "onnx", "none", 1, near, test, ref, tolerance=1.0)
    assert ok["status"] == "ok" and ok["mae"] == pytest.approx(5.1) and ok["mae_diff_std_points"] == pytest.approx(0.5)
    assert row("m.onnx", "onnx", "none", 1, far, test, ref, tolerance=1.0)["status"] == "failed"
    # int8 is allowed 5× the MAE tolerance, and 0.3 std per prediction
    assert row("m.onnx", "onnx", "int8", 1, far, test, ref, tolerance=1.0)["status"] == "ok"
    jumpy = Measurement(np.where(np.arange(50)[:, None] == 3, y + 20.0, y + 5.0), 1.0, 1.0)  # one 0.75-std jump
    assert row("m.onnx", "onnx", "int8", 1, jumpy, test, ref, tolerance=1.0)["status"] == "failed"


def test_multilabel_check_counts_micro_f1_points_and_each_labels_probability():
    from aimodel.export.verify import Measurement, row

    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    test = _test_batches("multilabel", y, ["a", "b"])
    ref = Measurement(np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.2]], np.float32), 1.0, 1.0)
    flipped = Measurement(ref.probs + np.array([[0, 0], [0, 0], [0, -0.2], [0, 0]], np.float32), 1.0, 1.0)
    out = row("m.tflite", "tflite", "int8", 1, flipped, test, ref, tolerance=1.0)
    assert out["max_prob_diff_per_label"] == {"a": 0.0, "b": pytest.approx(0.2)}
    assert out["agreement"] == pytest.approx(7 / 8) and out["micro_f1_diff_points"] < -5
    assert out["status"] == "failed" and row("m", "tflite", "none", 1, ref, test, ref, 1.0)["status"] == "ok"


# --- tune, cv ----------------------------------------------------------------------------------------


def test_tune_with_objective_val_mae_reports_the_tasks_test_metrics(tasks):
    cfg = _config(tasks.tmp / "regtune.yaml", "regression", tasks.tmp / "reg.csv", "price", search={"objective": "val_mae", "max_trials": 2,
                                   "space": {"training.learning_rate": {"choice": [0.001, 0.01]}}})
    out = tasks.tmp / "tune"
    result = _invoke("tune", cfg, "--run-dir", out)
    assert result.exit_code == 0, result.output
    assert "test_mae" in result.output and "best: trial" in result.output
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"test_mae", "test_rmse", "test_r2", "test_loss"} <= set(rows[0])
    assert "test_accuracy" not in rows[0] and all(float(r["test_mae"]) > 0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "regression" and summary["direction"] == "min"
    assert summary["best"]["objective"] == min(float(r["objective"]) for r in rows)
    assert set(summary["best"]["test"]) == {"mae", "rmse", "r2"}


def test_cv_regression_uses_seeded_kfold_and_reports_the_tasks_metrics(tasks):
    from sklearn.model_selection import KFold

    result = _invoke("cv", tasks.reg_cfg, "--folds", "3", "--run-dir", tasks.tmp / "cv", "--json")
    assert result.exit_code == 0, result.output
    cv = json.loads(result.output)
    assert cv["task"] == "regression" and cv["completed"] == 3
    assert set(cv["summary"]) == {f"{s}_{m}" for s in ("val", "test") for m in ("mae", "rmse", "r2", "loss")}
    assert all(cv["summary"][m]["mean"] is not None and cv["summary"][m]["std"] >= 0 for m in cv["summary"])
    folds = json.loads((tasks.tmp / "cv" / "folds.json").read_text())
    want = [v.tolist() for _, v in KFold(3, shuffle=True, random_state=1).split(np.zeros(folds["pool"]))]
    assert folds["validation"] == want


def test_a_source_can_supply_its_own_folds(monkeypatch):
    from aimodel.search.cv import FOLD_MAKERS, folds_for, kfold_indices

    cfg = SimpleNamespace(dataset=SimpleNamespace(name="ordered_test_source"), seed=0, task="regression")
    monkeypatch.setitem(FOLD_MAKERS._items, "ordered_test_source",
                        lambda pool, k, seed: [(np.arange(5), np.arange(5, 10))])
    assert [v.tolist() for _, v in folds_for(cfg, object(), 3)] == [[5, 6, 7, 8, 9]]
    with pytest.raises(Exception, match=r"--folds 11: only 10 .*at most --folds 10"):
        kfold_indices(10, 11, 0)


# --- inspect, summary, runs list ---------------------------------------------------------------------


def test_inspect_shows_the_target_distribution_and_label_frequencies(tasks):
    png = tasks.tmp / "targets.png"
    reg = json.loads(_invoke("data", "inspect", tasks.reg_cfg, "--json", "--histogram", png).output)
    price = reg["splits"]["train"]["targets"]["price"]
    assert reg["task"] == "regression" and set(price["quantiles"]) == {"5%", "25%", "50%", "75%", "95%"}
    assert price["min"] <= price["quantiles"]["5%"] <= price["quantiles"]["50%"] <= price["max"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = _invoke("data", "inspect", tasks.ml_cfg).output
    assert "label frequencies" in text and "(no label)" in text and "multilabel" in text
    ml = json.loads(_invoke("data", "inspect", tasks.ml_cfg, "--json").output)
    assert set(ml["splits"]["train"]["per_label"]) == {"big", "odd", "red"}
    refused = _invoke("data", "inspect", tasks.ml_cfg, "--histogram", png)
    assert refused.exit_code == 1 and "--histogram draws regression targets" in refused.output


def test_runs_list_and_model_summary_show_the_task(tasks):
    listed = {Path(r["path"]).parent.name: r["task"]
              for r in json.loads(_invoke("runs", "list", tasks.tmp / "runs", "--json").output)}
    assert listed == {"reg": "regression", "ml": "multilabel"}
    assert "multilabel" in _invoke("runs", "list", tasks.tmp / "runs").output
    summary = json.loads(_invoke("model", "summary", tasks.reg_cfg, "--json").output)
    assert summary["task"] == "regression" and summary["layers"][-1]["name"] == "target_units"
