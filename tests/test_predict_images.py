"""aimodel predict on image models: folders, globs, output formats, batching."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def digit_folder(trained_run, tmp_path_factory) -> Path:
    """20 test digits as PNGs in a nested folder, one corrupt .png and a stray text file."""
    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(trained_run / "config.yaml")
    test = load_data(cfg.dataset, cfg.seed).test
    root = tmp_path_factory.mktemp("digits")
    (root / "more" / "deeper").mkdir(parents=True)
    for i in range(20):
        folder = root if i < 10 else root / "more" if i < 15 else root / "more" / "deeper"
        Image.fromarray(test.x[i, ..., 0]).save(folder / f"d{i:02d}_label{test.y[i]}.png")
    (root / "more" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "notes.txt").write_text("not a picture")
    return root


def _preds(output: str) -> dict[str, dict]:
    return {Path(p["input"]).name: p for p in json.loads(output)["predictions"]}


def test_folder_with_one_corrupt_file(trained_run, digit_folder):
    result = _invoke("predict", digit_folder, "--model", trained_run, "--json", "--polarity", "keep", "--no-crop")
    assert result.exit_code == 1  # one input failed
    preds = _preds(result.stdout)
    assert len(preds) == 21 and "notes.txt" not in preds  # recursive, images only
    assert "not a readable image" in preds["broken.png"]["error"]
    good = {n: p for n, p in preds.items() if n != "broken.png"}
    correct = sum(p["label"] == n.split("label")[1][0] for n, p in good.items())
    assert correct >= 17, good
    assert "1 of 21 input(s) could not be predicted" in result.stderr
    assert json.loads(result.stdout)["failed"] == 1


def test_globs_and_exit_code_zero_when_all_succeed(trained_run, digit_folder):
    pattern = str(digit_folder / "**" / "d1*.png")
    result = _invoke("predict", pattern, "--model", trained_run, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(_preds(result.stdout)) == sorted(p.name for p in digit_folder.rglob("d1*.png"))
    missing = _invoke("predict", str(digit_folder / "*.jpeg"), "--model", trained_run, "--json")
    assert missing.exit_code == 1 and "no files match this pattern" in missing.stdout


def test_wrong_modality_inputs_get_their_own_error(trained_run, digit_folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n")
    good = next(digit_folder.glob("d00*.png"))
    result = _invoke("predict", good, digit_folder / "notes.txt", table, "--text", "hello", "--model", trained_run,
                     "--json")
    assert result.exit_code == 1
    preds = json.loads(result.stdout)["predictions"]
    assert "label" in preds[0]
    assert "notes.txt: not an image; this model takes image files" in preds[1]["error"]
    assert "t.csv: a table; this model takes image files" in preds[2]["error"]
    assert "--text: this model takes image inputs" in preds[3]["error"]


def test_csv_format_and_output_file(trained_run, digit_folder, tmp_path):
    out = tmp_path / "preds.csv"
    result = _invoke("predict", digit_folder, "--model", trained_run, "-k", "2", "--output", out)
    assert result.exit_code == 1  # the broken file
    assert "20 prediction(s) written to" in result.output and "broken.png" in result.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["input", "prediction", "confidence", "top2", "top2_confidence", "error"]
    assert len(rows) == 21
    broken = next(r for r in rows if r["input"].endswith("broken.png"))
    assert broken["prediction"] == "" and "not a readable image" in broken["error"]
    ok = [r for r in rows if not r["error"]]
    assert all(float(r["confidence"]) >= float(r["top2_confidence"]) for r in ok)

    as_json = _invoke("predict", digit_folder, "--model", trained_run, "--output", tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text())["failed"] == 1
    by_json = {p["input"]: p["label"] for p in json.loads((tmp_path / "p.json").read_text())["predictions"]
               if "label" in p}
    assert by_json == {r["input"]: r["prediction"] for r in ok}
    assert as_json.exit_code == 1

    stdout_csv = _invoke("predict", digit_folder / "more" / "deeper", "--model", trained_run, "--format", "csv")
    assert stdout_csv.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(stdout_csv.stdout)))) == 5

    text = _invoke("predict", digit_folder / "more" / "deeper", "--model", trained_run, "-o", tmp_path / "p.txt")
    assert text.exit_code == 0 and "confidence" in (tmp_path / "p.txt").read_text()


def test_output_may_not_replace_an_input(trained_run, digit_folder):
    target = next(digit_folder.glob("d00*.png"))
    before = target.read_bytes()
    result = _invoke("predict", target, "--model", trained_run, "--output", target)
    assert result.exit_code == 2 and "is one of the inputs" in result.output
    assert target.read_bytes() == before


def test_no_inputs_is_a_usage_error(trained_run):
    result = _invoke("predict", "--model", trained_run)
    assert result.exit_code == 2 and "give at least one INPUT" in result.output


def test_batched_and_one_by_one_give_identical_predictions(trained_run, digit_folder):
    from aimodel.inference.predict import Predictor

    predictor = Predictor(trained_run)
    batched = predictor.predict([digit_folder], top_k=3, batch_size=64).predictions
    single = predictor.predict([digit_folder], top_k=3, batch_size=1).predictions
    odd = predictor.predict([digit_folder], top_k=3, batch_size=7).predictions
    assert len(batched) == len(single) == len(odd) == 21
    for a, b, c in zip(batched, single, odd):
        assert a.input == b.input == c.input and a.error == b.error == c.error
        assert a.label == b.label == c.label
        assert [n for n, _ in a.top_k] == [n for n, _ in b.top_k] == [n for n, _ in c.top_k]
        # Same numbers up to float32 rounding in the matrix kernels (differences ~1e-7).
        np.testing.assert_allclose([v for _, v in a.top_k], [v for _, v in b.top_k], atol=2e-6)
        np.testing.assert_allclose([v for _, v in a.top_k], [v for _, v in c.top_k], atol=2e-6)
