"""predict and evaluate --data on models trained from CSV files: a tabular MLP (iris) and a text RNN."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from aimodel.cli import main
from tests._models_support import sentences
from tests.conftest import ROOT, write_config

IRIS = ROOT / "examples" / "iris.csv"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _train(config: Path, runs: Path) -> Path:
    result = _invoke("train", config, "--runs-root", runs, "--quiet")
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1])


def test_tabular_run_predicts_a_csv_round_trip_and_evaluates_another_csv(tmp_path):
    config = write_config(tmp_path / "iris.yaml", {
        "name": "iris", "seed": 1,
        "dataset": {"name": "csv", "path": str(IRIS), "label": "species", "test_split": 0.2},
        "model": {"architecture": "mlp", "units": [16]},
        "training": {"epochs": 40, "batch_size": 16, "learning_rate": 0.02},
    })
    run = _train(config, tmp_path / "runs")
    out = tmp_path / "iris_predicted.csv"
    result = _invoke("predict", IRIS, "--model", run, "--output", out)
    assert result.exit_code == 0, result.output
    with open(IRIS, newline="") as f:
        original = list(csv.DictReader(f))
    with open(out, newline="") as f:
        back = list(csv.DictReader(f))
    assert len(back) == len(original) == 150
    assert all({k: b[k] for k in o} == o for o, b in zip(original, back))  # every cell kept
    correct = sum(b["prediction"] == b["species"] for b in back)
    assert correct >= 135, correct

    report = _invoke("evaluate", run, "--data", IRIS, "--json")  # label column from the run's config
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["accuracy"] == round(correct / 150, 6)


def test_text_run_predicts_strings_and_the_trained_csv_column(tmp_path):
    texts, labels = sentences(200, seed=5)
    data = tmp_path / "reviews.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review", "sentiment"])
        writer.writerows([i, t, "positive" if y else "negative"] for i, (t, y) in enumerate(zip(texts, labels)))
    config = write_config(tmp_path / "text.yaml", {
        "name": "text", "seed": 1,
        "dataset": {"name": "csv", "path": str(data), "label": "sentiment", "text_column": "review",
                    "sequence_length": 16, "max_tokens": 100, "test_split": 0.25},
        "model": {"architecture": "rnn", "cell": "GRU", "units": [16], "embedding_dim": 16},
        "training": {"epochs": 8, "batch_size": 16, "learning_rate": 0.01},
    })
    run = _train(config, tmp_path / "runs")
    result = _invoke("predict", data, "--model", run, "--format", "csv", "--batch-size", "50")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 200 and list(rows[0])[:3] == ["id", "review", "sentiment"]
    assert sum(r["prediction"] == r["sentiment"] for r in rows) >= 170

    (tmp_path / "one.txt").write_text(str(texts[1]))
    mixed = _invoke("predict", tmp_path / "one.txt", "--text", str(texts[0]), "--text", " ", "--model", run,
                    "--json")
    assert mixed.exit_code == 1
    preds = json.loads(mixed.stdout)["predictions"]
    assert [p.get("label") for p in preds[:2]] == ["positive", "negative"] and "empty text" in preds[2]["error"]

    report = _invoke("evaluate", run, "--data", data, "--json", "--out", tmp_path / "ev")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["samples"] == 200 and (tmp_path / "ev" / "errors.csv").is_file()
