"""aimodel predict on text and tabular models (tiny hand-built Keras models with known weights)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_text_model_takes_strings_text_files_and_csv(text_run, tmp_path):
    (tmp_path / "review1.txt").write_text("A good good movie\n")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("id,review\n1,bad movie\n2,good\n3,\n")
    result = _invoke("predict", tmp_path / "review1.txt", tmp_path / "empty.txt", tmp_path / "photo.png", reviews,
                     "--text", "so bad", "--text", "", "--model", text_run, "--json", "-k", "2")
    assert result.exit_code == 1
    preds = json.loads(result.stdout)["predictions"]
    got = [(Path(p["input"]).name, p.get("label"), p.get("error")) for p in preds]
    assert got[0][:2] == ("review1.txt", "pos")
    assert "empty.txt: empty text" in got[1][2]
    assert "photo.png: an image; this model takes text" in got[2][2]
    assert [g[:2] for g in got[3:5]] == [("reviews.csv:2", "neg"), ("reviews.csv:3", "pos")]
    assert "reviews.csv:4: empty text" in got[5][2]
    assert got[6][:2] == ("--text 1", "neg") and "--text 2: empty text" in got[7][2]
    assert preds[0]["confidence"] > 0.99 and len(preds[0]["top_k"]) == 2
    assert json.loads(result.stdout)["failed"] == 4


def test_text_csv_column_choice(text_run, tmp_path):
    data = tmp_path / "two.csv"
    data.write_text("title,body\nbad,good movie\n")
    unclear = _invoke("predict", data, "--model", text_run, "--json")
    assert unclear.exit_code == 1 and "which column holds the text? pass --column NAME" in unclear.stdout
    chosen = _invoke("predict", data, "--model", text_run, "--json", "--column", "body")
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)["predictions"][0]["label"] == "pos"
    wrong = _invoke("predict", data, "--model", text_run, "--json", "--column", "nope")
    assert wrong.exit_code == 1 and "no column 'nope'; the file has: title, body" in wrong.stdout


def test_tabular_csv_round_trip_appends_predictions(tabular_run, tmp_path):
    rows = [
        {"id": "a", "size": "2.5", "colour": "red", "prediction": "mine"},  # an existing column is kept
        {"id": "b", "size": "-1", "colour": "red", "prediction": ""},
        {"id": "c", "size": "-0.5", "colour": "blue", "prediction": "x"},
        {"id": "d", "size": "lots", "colour": "red", "prediction": ""},
        {"id": "e", "size": "0", "colour": "green", "prediction": ""},
    ]
    data = tmp_path / "things.csv"
    with open(data, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "things_predicted.csv"
    result = _invoke("predict", data, "--model", tabular_run, "--output", out, "-k", "1")
    assert result.exit_code == 1 and "things.csv:5: column 'size' must be a number, got 'lots'" in result.stderr
    with open(out, newline="") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == ["id", "size", "colour", "prediction", "prediction.1", "confidence", "error"]
    for original, new in zip(rows, back):
        assert {k: new[k] for k in original} == original  # every original cell unchanged
    assert [r["prediction.1"] for r in back] == ["big", "small", "big", "", "small"]
    # c: size -0.5 (-1.5) but blue (+2) → big; e: unknown colour → OOV, size 0 → a tie, first class wins.
    assert float(back[0]["confidence"]) == pytest.approx(1 / (1 + np.exp(-15)), abs=1e-6)
    assert back[3]["error"] and not back[0]["error"]


def test_tabular_missing_column_and_non_csv_inputs(tabular_run, tmp_path):
    data = tmp_path / "partial.csv"
    data.write_text("size\n1\n")
    (tmp_path / "notes.txt").write_text("x")
    result = _invoke("predict", data, tmp_path / "notes.txt", "--model", tabular_run, "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert "missing column(s) colour that the model was trained on; the file has: size" in rows[0]["error"]
    assert "notes.txt: not one of the inputs this tabular model takes (CSV files" in rows[1]["error"]


def test_batched_and_one_by_one_agree_for_text(text_run):
    from aimodel.inference.predict import Predictor

    texts = ["good", "bad", "good movie", "bad bad good", "movie", "unknown words"] * 3
    predictor = Predictor(text_run)
    batched = predictor.predict(texts=texts, batch_size=64).predictions
    single = predictor.predict(texts=texts, batch_size=1).predictions
    assert [p.label for p in batched] == [p.label for p in single]
    np.testing.assert_allclose([p.confidence for p in batched], [p.confidence for p in single], atol=2e-6)
    assert [p.label for p in batched[:3]] == ["pos", "neg", "pos"]
