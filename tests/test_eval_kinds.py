"""evaluate --data on files: class folders and labelled CSV files, for image, text and tabular models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_text_model_on_a_labelled_csv(text_run, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("sentiment,review\npos,good movie\nneg,bad\npos,so bad\npos,good\nneg,bad good bad\n"
                    "neg,movie good\n")
    result = _invoke("evaluate", text_run, "--data", data, "--label", "sentiment", "--json", "-b", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["confusion_matrix"] == [[2, 1], [1, 2]] and report["roc_auc"] is not None
    out = text_run / "evaluation-reviews"
    errors = _rows(out / "errors.csv")
    assert sorted(e["input"] for e in errors) == [f"{data}:4", f"{data}:7"]
    assert not (out / "errors.png").exists()  # an image grid only for image data

    no_label = _invoke("evaluate", text_run, "--data", data)
    assert no_label.exit_code == 1 and "no label column 'label' (pass --label NAME)" in no_label.output


def test_tabular_model_on_a_labelled_csv(tabular_run, tmp_path):
    data = tmp_path / "things.csv"
    data.write_text("size,colour,label\n1,red,big\n-2,red,small\n3,blue,big\n-1,blue,small\n0.5,red,small\n")
    result = _invoke("evaluate", tabular_run, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accuracy"] == pytest.approx(0.8)  # the last row (size 0.5 → big) is wrong
    assert report["per_class"][1] == {"class": "big", "precision": pytest.approx(2 / 3, abs=1e-6),
                                      "recall": 1.0, "f1": pytest.approx(0.8, abs=1e-6), "support": 2}

    data.write_text("size,colour,label\n1,red,big\nnone,red,small\n2,red,huge\n")
    bad = _invoke("evaluate", tabular_run, "--data", data)
    assert bad.exit_code == 1 and "class(es) 'huge' are not classes of the model" in bad.output
    data.write_text("size,colour,label\n1,red,big\nnone,red,small\n")
    bad = _invoke("evaluate", tabular_run, "--data", data)
    assert bad.exit_code == 1 and "things.csv:3: column 'size' must be a number, got 'none'" in bad.output


def test_image_model_on_class_folders(trained_run, tmp_path):
    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(trained_run / "config.yaml")
    test = load_data(cfg.dataset, cfg.seed).test
    folder = tmp_path / "my_digits"
    for i in range(60):
        label = int(test.y[i])
        if label in (0, 1, 7):
            (folder / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.x[i, ..., 0]).save(folder / str(label) / f"{i}.png")
    expected = {str(c): int((test.y[:60] == c).sum()) for c in (0, 1, 7)}
    out = tmp_path / "out"
    result = _invoke("evaluate", trained_run, "--data", folder, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    support = {r["class"]: r["support"] for r in report["per_class"] if r["support"]}
    assert support == expected and report["samples"] == sum(expected.values())
    assert report["accuracy"] > 0.7
    assert all(e["input"].startswith(str(folder)) for e in _rows(out / "errors.csv"))
    assert (out / "errors.png").is_file()

    (folder / "7" / "broken.png").write_text("no")
    (folder / "cat").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "cat" / "c.png")
    result = _invoke("evaluate", trained_run, "--data", folder, "--out", out)
    assert result.exit_code == 1 and "class(es) 'cat' are not classes of the model" in result.output
    (folder / "cat" / "c.png").unlink()
    result = _invoke("evaluate", trained_run, "--data", folder, "--out", out)
    assert result.exit_code == 1 and "1 input(s) cannot be used" in result.output and "broken.png" in result.output
