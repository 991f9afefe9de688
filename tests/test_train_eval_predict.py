"""The round trip on real (offline) digits: train → evaluate → predict, through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_run_directory_holds_everything(trained_run):
    for name in ("config.yaml", "meta.json", "best.keras", "last.keras", "metrics.csv", "summary.json"):
        assert (trained_run / name).is_file(), name
    rows = list(csv.DictReader(open(trained_run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"} <= set(rows[0])
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 6
    best = max(float(r["val_accuracy"]) for r in rows)
    assert summary["best_value"] == pytest.approx(best, abs=1e-5)
    saved = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert saved["training"]["epochs"] == 6 and saved["training"]["optimizer"] == "adam"  # resolved
    meta = json.loads((trained_run / "meta.json").read_text())
    assert meta["input"]["shape"] == [8, 8, 1] and meta["splits"]["test"] == 359


def test_training_actually_learns(trained_run):
    rows = list(csv.DictReader(open(trained_run / "metrics.csv")))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 2
    assert float(rows[-1]["val_accuracy"]) > 0.85


def test_evaluate_table_json_and_file(trained_run):
    result = _invoke("evaluate", trained_run, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 359 and report["split"] == "test"
    assert report["accuracy"] > 0.85
    assert sum(r["support"] for r in report["per_class"]) == 359
    assert np.trace(np.array(report["confusion_matrix"])) == round(report["accuracy"] * 359)
    on_disk = json.loads((trained_run / "evaluation.json").read_text())
    assert on_disk["accuracy"] == report["accuracy"]
    table = _invoke("evaluate", trained_run / "last.keras")
    assert table.exit_code == 0 and "accuracy" in table.output and "per class" in table.output


def _digit_photo(path: Path, image8: np.ndarray):
    """A digits test image enlarged to 96×96 and printed dark-on-light like a photo of paper."""
    big = Image.fromarray(image8.astype(np.uint8), "L").resize((72, 72), Image.Resampling.BICUBIC)
    paper = Image.new("L", (96, 96), 0)
    paper.paste(big, (10, 14))
    inverted = 235 - np.asarray(paper, np.float32) * (200 / 255)
    Image.fromarray(inverted.clip(0, 255).astype(np.uint8)).save(path)
    return path


def test_predict_on_photos_of_test_digits(trained_run, tmp_path):
    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(trained_run / "config.yaml")
    test = load_data(cfg.dataset, cfg.seed).test
    files = [_digit_photo(tmp_path / f"d{i}.png", test.x[i, ..., 0]) for i in range(20)]
    result = _invoke("predict", *files, "--model", trained_run, "--json", "--top-k", "2")
    assert result.exit_code == 0, result.output
    preds = json.loads(result.output)["predictions"]
    assert len(preds) == 20 and all(len(p["top_k"]) == 2 for p in preds)
    correct = sum(int(p["label"]) == int(y) for p, y in zip(preds, test.y[:20]))
    assert correct >= 15, preds  # the tiny fixture model, on re-photographed, inverted digits

    plain = _invoke("predict", *files[:2], "--model", trained_run)
    assert plain.exit_code == 0 and "confidence" in plain.output


def test_predict_reports_bad_files_and_still_predicts_the_rest(trained_run, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    result = _invoke("predict", good, bad, tmp_path / "missing.png", "--model", trained_run, "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    by_input = {Path(p["input"]).name: p for p in out["predictions"]}
    assert "label" in by_input["good.png"]
    assert "not a readable image" in by_input["bad.png"]["error"]
    assert "file not found" in by_input["missing.png"]["error"]
    assert "2 of 3 input(s) could not be predicted" in result.stderr


def test_predict_defaults_to_latest_run(trained_run, tmp_path, monkeypatch):
    runs = tmp_path / "runs" / "tiny"
    runs.mkdir(parents=True)
    (runs / "1").symlink_to(trained_run, target_is_directory=True)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    monkeypatch.chdir(tmp_path)
    result = _invoke("predict", img, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"].endswith("best.keras")


def test_predict_without_any_run_explains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("predict", "x.png")
    assert result.exit_code == 1
    assert "no trained model found under runs/" in result.output
    assert "Traceback" not in result.output


def test_saved_model_reloads_to_identical_predictions(trained_run):
    import keras

    from aimodel.config import load_config
    from aimodel.data import load_data
    from aimodel.inference.checkpoint import load_model

    cfg = load_config(trained_run / "config.yaml")
    x = load_data(cfg.dataset, cfg.seed).test.x[:64].astype(np.float32)
    first = load_model(trained_run / "best.keras")
    again = keras.saving.load_model(trained_run / "best.keras", safe_mode=True)
    np.testing.assert_array_equal(first.predict(x, verbose=0), again.predict(x, verbose=0))
    # The model takes raw pixels: preprocessing travels inside it.
    assert any(layer.__class__.__name__ == "Rescaling" for layer in first.layers)


def test_runs_are_numbered_and_never_overwritten(tiny_config, tmp_path):
    runs = tmp_path / "runs"
    first = _invoke("train", tiny_config, "--runs-root", runs, "-q", "--set", "training.epochs=1")
    second = _invoke("train", tiny_config, "--runs-root", runs, "-q", "--set", "training.epochs=1")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert first.output.strip().endswith("tiny/1") and second.output.strip().endswith("tiny/2")

    taken = tmp_path / "mine"
    taken.mkdir()
    (taken / "keep.txt").write_text("precious")
    refused = _invoke("train", tiny_config, "--run-dir", taken, "--set", "training.epochs=1")
    assert refused.exit_code == 1 and "already exists and is not empty" in refused.output
    assert (taken / "keep.txt").read_text() == "precious"


def test_config_that_cannot_build_leaves_no_run_dir(tiny_config, tmp_path):
    runs = tmp_path / "runs"
    result = _invoke("train", tiny_config, "--runs-root", runs, "--set", "model.filters=[8,8,8,8]",
                     "--set", "model.padding=valid")
    assert result.exit_code == 1
    assert "model.pool_size=2 does not fit the 1×1 feature map of block 2" in result.output
    assert not (runs / "tiny").exists() or not any((runs / "tiny").iterdir())


def test_evaluate_refuses_a_changed_test_set(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    cfg = yaml.safe_load((copy / "config.yaml").read_text())
    cfg["dataset"]["test_split"] = 0.3
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = _invoke("evaluate", copy)
    assert result.exit_code == 1 and "differs from the one this run was trained beside" in result.output


def test_evaluate_errors_are_clean(tmp_path):
    result = _invoke("evaluate", tmp_path)
    assert result.exit_code == 1 and "no best.keras or last.keras" in result.output
    broken = tmp_path / "best.keras"
    broken.write_text("garbage")
    result = _invoke("predict", "x.png", "--model", broken)
    assert result.exit_code == 1 and "cannot load model" in result.output and "Traceback" not in result.output
