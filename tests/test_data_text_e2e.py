"""Each text source trains, evaluates and predicts end to end through the CLI (tiny, one epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests._data_fixtures import sequences_npz, text_folder, word_index
from tests.conftest import write_config


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _dataset(name: str, tmp_path: Path) -> dict:
    if name == "text_folder":
        return {"name": name, "path": str(text_folder(tmp_path / "reviews")), "validation_split": 0.2,
                "test_split": 0.2, "sequence_length": 8}
    x = [[1, 2, 3, 4], [1, 6, 3, 5], [2, 3, 4], [6, 3, 5]] * 4
    y = [1, 0, 1, 0] * 4
    if name == "imdb":
        path = sequences_npz(tmp_path / "imdb.npz", {"x_train": x, "y_train": y, "x_test": x[:4], "y_test": y[:4]})
        return {"name": name, "path": str(path), "word_index": str(word_index(tmp_path / "imdb_word_index.json")),
                "validation_split": 0.25, "sequence_length": 8}
    path = sequences_npz(tmp_path / "reuters.npz", {"x": x, "y": y})
    return {"name": name, "path": str(path), "word_index": str(word_index(tmp_path / "reuters_word_index.json")),
            "validation_split": 0.25, "test_split": 0.25, "sequence_length": 8}


@pytest.mark.parametrize("source", ["text_folder", "imdb", "reuters"])
def test_text_source_trains_evaluates_and_predicts_from_the_cli(tmp_path, source):
    config = write_config(tmp_path / "c.yaml", {
        "name": f"e2e-{source}", "seed": 3, "dataset": _dataset(source, tmp_path),
        "model": {"architecture": "rnn", "cell": "GRU", "units": [8], "embedding_dim": 8},
        "training": {"epochs": 1, "batch_size": 4, "steps_per_execution": 1},
    })
    trained = _invoke("train", config, "--runs-root", tmp_path / "runs", "--quiet")
    assert trained.exit_code == 0, trained.output
    run = Path(trained.output.strip().splitlines()[-1])
    meta = json.loads((run / "meta.json").read_text())
    assert meta["input"]["kind"] == "text"

    report = _invoke("evaluate", run, "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["samples"] == meta["splits"]["test"]

    predicted = _invoke("predict", "--text", "the movie was great", "--model", run, "--json")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.output)["predictions"][0]["label"] in meta["input"]["class_names"]
