"""aimodel evaluate end to end: the files it writes, other splits, other datasets, two-class models."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main
from tests.conftest import TINY, write_config


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _valid_png(path: Path, min_size=(300, 200)):
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size[0] >= min_size[0] and img.size[1] >= min_size[1], img.size
        assert len(set(np.asarray(img.convert("L")).ravel().tolist())) > 10  # something is drawn


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def test_evaluate_writes_every_report_and_they_agree(trained_run, tmp_path):
    out = tmp_path / "reports"
    result = _invoke("evaluate", trained_run, "--out", out, "--top-k", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    names = report["class_names"]
    assert names == [str(i) for i in range(10)] and report["samples"] == 359
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["evaluation.json", "per_class.csv", "confusion_matrix.csv", "confusion_matrix.png", "errors.csv",
         "errors.png"])  # and no temporary files left behind
    on_disk = json.loads((out / "evaluation.json").read_text())
    assert on_disk["accuracy"] == report["accuracy"] and on_disk["files"] == report["files"]
    assert report["top_k"] == 2 and report["accuracy"] <= report["top_k_accuracy"] <= 1.0
    assert 0 < report["macro_avg"]["f1"] <= 1 and report["roc_auc"] is None

    per_class = _rows(out / "per_class.csv")
    assert [r["class"] for r in per_class] == names
    for row, js in zip(per_class, report["per_class"]):
        assert float(row["f1"]) == js["f1"] and int(row["support"]) == js["support"]

    with open(out / "confusion_matrix.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["true \\ predicted", *names] and [r[0] for r in table[1:]] == names
    cm = np.array([[int(v) for v in r[1:]] for r in table[1:]])
    np.testing.assert_array_equal(cm, report["confusion_matrix"])
    assert cm.sum() == 359 and np.trace(cm) == round(report["accuracy"] * 359)

    errors = _rows(out / "errors.csv")
    assert len(errors) == 359 - np.trace(cm) > 0
    assert all(e["true"] != e["predicted"] for e in errors)
    confidences = [float(e["confidence"]) for e in errors]
    assert confidences == sorted(confidences, reverse=True)
    biggest = report["most_confused"][0]
    assert cm[names.index(biggest["true"]), names.index(biggest["predicted"])] == biggest["count"]

    _valid_png(out / "confusion_matrix.png", (800, 400))
    _valid_png(out / "errors.png")


def test_evaluate_table_shows_headline_and_per_class_numbers(run_copy):
    result = _invoke("evaluate", run_copy)
    assert result.exit_code == 0, result.output
    for text in ("accuracy", "top-3 accuracy", "macro F1", "per class", "most often taken for", "weighted avg",
                 "most confused (true → predicted)", "confusion_matrix.png"):
        assert text in result.output, text
    assert (run_copy / "evaluation.json").is_file() and (run_copy / "errors.png").is_file()


def test_other_splits_go_to_their_own_folder(run_copy):
    meta = json.loads((run_copy / "meta.json").read_text())
    (run_copy / "evaluation.json").unlink(missing_ok=True)  # another test may have evaluated the shared run
    for split in ("val", "train"):
        result = _invoke("evaluate", run_copy, "--split", split, "--json")
        assert result.exit_code == 0, result.output
        report = json.loads((run_copy / f"evaluation-{split}" / "evaluation.json").read_text())
        assert report["split"] == split and report["samples"] == meta["splits"][split]
    assert "trained on these samples" in report["note"]
    assert not (run_copy / "evaluation.json").exists()  # the test report is not replaced


def test_no_validation_split_is_a_clear_error(tmp_path):
    cfg = dict(TINY, dataset={"name": "digits", "validation_split": 0}, training={"epochs": 1})
    config = write_config(tmp_path / "noval.yaml", cfg)
    assert _invoke("train", config, "--run-dir", tmp_path / "run", "-q").exit_code == 0
    result = _invoke("evaluate", tmp_path / "run", "--split", "val")
    assert result.exit_code == 1 and "no validation split (dataset.validation_split is 0)" in result.output


def _digits_test(run_dir: Path):
    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(run_dir / "config.yaml")
    return load_data(cfg.dataset, cfg.seed).test


def test_data_npz_with_other_class_order_and_fewer_classes(run_copy, tmp_path):
    test = _digits_test(run_copy)
    keep = np.isin(test.y, [3, 5, 8])
    x, y_model = test.x[keep], test.y[keep]
    order = ["8", "3", "5"]  # the user's own labels: 0 = "8", 1 = "3", 2 = "5"
    y_user = np.array([order.index(str(v)) for v in y_model])
    data = tmp_path / "mine.npz"
    np.savez(data, x=x, y=y_user, class_names=np.array(order))
    result = _invoke("evaluate", run_copy, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == int(keep.sum()) and report["written_to"].endswith("evaluation-mine/evaluation.json")
    support = {r["class"]: r["support"] for r in report["per_class"]}
    assert support == {str(c): int((y_model == c).sum()) if c in (3, 5, 8) else 0 for c in range(10)}

    from aimodel.inference.checkpoint import load_backend, resolve_checkpoint

    probs = load_backend(resolve_checkpoint(run_copy)).predict_proba(x.astype(np.float32))
    assert report["accuracy"] == pytest.approx((probs.argmax(1) == y_model).mean(), abs=1e-6)


def test_data_errors_are_clear(run_copy, tmp_path):
    test = _digits_test(run_copy)
    wrong_classes = tmp_path / "zoo.npz"
    np.savez(wrong_classes, x=test.x[:6], y=np.arange(6) % 2, class_names=np.array(["3", "zebra"]))
    result = _invoke("evaluate", run_copy, "--data", wrong_classes)
    assert result.exit_code == 1
    assert "class(es) 'zebra' are not classes of the model; the model knows: 0, 1, 2" in result.output

    big = tmp_path / "big.npz"
    np.savez(big, x_test=np.zeros((4, 28, 28), np.uint8), y_test=np.zeros(4, np.int64))
    result = _invoke("evaluate", run_copy, "--data", big)
    assert result.exit_code == 1 and "images of shape (28, 28, 1), but the model takes (8, 8, 1)" in result.output

    (tmp_path / "empty" / "3").mkdir(parents=True)
    result = _invoke("evaluate", run_copy, "--data", tmp_path / "empty")
    assert result.exit_code == 1 and "/<class name>/<files> (.png" in result.output and "found none" in result.output
    assert "Traceback" not in result.output


def test_data_config_file_scores_its_test_split(run_copy, tmp_path):
    other = write_config(tmp_path / "other.yaml", dict(TINY, seed=3, dataset={"name": "digits", "test_split": 0.1}))
    result = _invoke("evaluate", run_copy, "--data", other, "--json", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 180 and "other.yaml" in report["data"]
    assert (tmp_path / "o" / "errors.png").is_file()


def _sigmoid_run(tmp_path: Path) -> Path:
    """A hand-built two-class image model with one sigmoid unit: bright images are class 'on'."""
    import keras
    from keras import layers

    inputs = keras.Input((4, 4, 1))
    x = layers.GlobalAveragePooling2D()(layers.Rescaling(1 / 255)(inputs))
    dense = layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.array([[20.0]], np.float32), np.array([-10.0], np.float32)])
    run = tmp_path / "sigmoid_run"
    run.mkdir()
    model.save(run / "best.keras")
    meta = {"input": {"kind": "image", "shape": [4, 4, 1], "class_names": ["off", "on"]}}
    (run / "meta.json").write_text(json.dumps(meta))
    return run


def test_two_class_sigmoid_model_gets_roc_auc(tmp_path):
    run = _sigmoid_run(tmp_path)
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 10)
    level = np.where(y == 1, rng.uniform(140, 255, 20), rng.uniform(10, 110, 20))
    level[0] = 0
    x = np.repeat(level[:, None, None], 16, axis=1).reshape(20, 4, 4).astype(np.uint8)
    y[0] = 1  # the darkest image labelled 'on': one confident error
    np.savez(tmp_path / "lamps.npz", x=x, y=y)
    result = _invoke("evaluate", run, "--data", tmp_path / "lamps.npz", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accuracy"] == 0.95 and report["confusion_matrix"] == [[9, 0], [1, 10]]
    assert report["roc_auc"] == pytest.approx(10 / 11, abs=1e-6)  # the mislabelled dark one ranks below all 'off'
    assert report["top_k"] == 2
    errors = _rows(run / "evaluation-lamps" / "errors.csv")
    assert [(e["index"], e["true"], e["predicted"]) for e in errors] == [("0", "on", "off")]
    _valid_png(run / "evaluation-lamps" / "errors.png", (200, 200))

    table = _invoke("evaluate", run, "--data", tmp_path / "lamps.npz")
    assert table.exit_code == 0 and "ROC AUC" in table.output


def test_evaluate_a_bare_model_file_without_run_directory(tmp_path):
    run = _sigmoid_run(tmp_path)
    (run / "meta.json").unlink()
    result = _invoke("evaluate", run / "best.keras")
    assert result.exit_code == 1 and "no meta.json beside the model" in result.output

