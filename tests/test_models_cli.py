"""Shipped configs validate and summarize; each family trains end to end from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aimodel.cli import main
from aimodel.data import DATASETS
from tests._models_support import sentences
from tests.conftest import ROOT, write_config

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _needs_dataset(config: Path):
    name = yaml.safe_load(config.read_text())["dataset"]["name"]
    assert name in DATASETS, f"{config.name}: dataset '{name}' is not a registered source ({', '.join(DATASETS)})"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_config_validates_and_summarizes(config, monkeypatch):
    _needs_dataset(config)
    monkeypatch.chdir(ROOT)  # configs name example files relative to the repository root
    result = _invoke("config", "validate", config)
    assert result.exit_code == 0, result.output
    text = yaml.safe_load(config.read_text())
    assert text.get("name") == config.stem
    head = "".join(line for line in config.read_text().splitlines(True) if line.startswith("#")).lower()
    assert "%" in head and ("measured" in head or "reference" in head), "say the expected accuracy and its source"
    result = _invoke("model", "summary", config, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["architecture"] == text["model"]["architecture"]
    assert summary["total_params"] == sum(row["params"] for row in summary["layers"]) > 0
    assert summary["size_bytes"] >= 4 * summary["total_params"]


def test_summary_answers_what_if_without_data():
    config = ROOT / "configs" / "mnist_cnn.yaml"
    base = json.loads(_invoke("model", "summary", config, "--json").output)
    smaller = json.loads(_invoke("model", "summary", config, "--json", "--set", "model.dense=[64]").output)
    # flatten of 7×7×64 = 3136 features into the dense layer: 3136×(256-64) weights + 192 biases fewer,
    # and the classifier sees 64 instead of 256 inputs
    assert base["total_params"] - smaller["total_params"] == 3136 * 192 + 192 + 10 * 192
    table = _invoke("model", "summary", config, "--set", "model.architecture=transformer",
                    "--set", "model.patch_size=7", "--set", "model.blocks=null", "--set", "model.convs_per_block=null")
    assert table.exit_code == 1 and "model.blocks" in table.output  # cnn keys do not fit a transformer


def test_summary_table_and_bad_fit():
    result = _invoke("model", "summary", ROOT / "configs" / "mnist_vit.yaml")
    assert result.exit_code == 0, result.output
    assert "encoder4" in result.output and "parameters:" in result.output and "estimated size" in result.output
    bad = _invoke("model", "summary", ROOT / "configs" / "mnist_vit.yaml", "--set", "model.patch_size=32")
    assert bad.exit_code == 1
    assert "model.patch_size=32 is larger than the 28×28×1 images" in bad.output
    assert "dataset.name: mnist" in bad.output and "Traceback" not in bad.output


FAMILIES = {
    "cnn": {"architecture": "cnn", "filters": [8], "dense": [16]},
    "rnn": {"architecture": "rnn", "cell": "GRU", "units": [16]},
    "transformer": {"architecture": "transformer", "patch_size": 4, "embed_dim": 16, "num_heads": 2,
                    "ff_dim": 16, "num_layers": 1, "dropout": 0.0},
}


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """One short digits run per family, trained through the CLI."""
    tmp = tmp_path_factory.mktemp("families")
    runs = {}
    for family, model in FAMILIES.items():
        cfg = {"name": family, "seed": 1, "dataset": {"name": "digits", "validation_split": 0.1},
               "model": model, "training": {"epochs": 3, "batch_size": 64, "learning_rate": 0.01}}
        config = write_config(tmp / f"{family}.yaml", cfg)
        result = _invoke("train", config, "--runs-root", tmp / "runs", "--quiet")
        assert result.exit_code == 0, result.output
        runs[family] = Path(result.output.strip().splitlines()[-1])
    return runs


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_trains_and_evaluates_on_images_from_the_cli(image_runs, family):
    result = _invoke("evaluate", image_runs[family], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] > 0.5  # 3 short epochs on 8×8 digits; chance is 0.1


@pytest.mark.subprocess
def test_saved_transformer_loads_in_a_fresh_process(image_runs):
    """No custom_objects, safe mode on: the registered layers are found by name."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "aimodel", "evaluate", str(image_runs["transformer"]), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] > 0.5


def _text_csv(path: Path, n: int = 160) -> Path:
    import csv

    x, y = sentences(n, seed=5)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        for text, label in zip(x, y):
            writer.writerow([text, "positive" if label else "negative"])
    return path


@pytest.mark.parametrize("model", [
    {"architecture": "rnn", "cell": "LSTM", "units": [16], "embedding_dim": 16},
    {"architecture": "transformer", "embed_dim": 16, "num_heads": 2, "ff_dim": 16, "num_layers": 1, "dropout": 0.0},
], ids=["rnn", "transformer"])
def test_family_trains_on_text_from_the_cli(tmp_path, model):
    data = _text_csv(tmp_path / "reviews.csv")
    cfg = {"name": "text", "seed": 1,
           "dataset": {"name": "csv", "path": str(data), "label": "sentiment", "text_column": "review",
                       "sequence_length": 16, "max_tokens": 100, "test_split": 0.25, "validation_split": 0.1},
           "model": model, "training": {"epochs": 8, "batch_size": 16, "learning_rate": 0.01}}
    config = write_config(tmp_path / "text.yaml", cfg)
    result = _invoke("train", config, "--runs-root", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    report = _invoke("evaluate", result.output.strip().splitlines()[-1], "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["accuracy"] >= 0.8
