"""Regression and multilabel beyond tables: images named by a CSV column (dataset.image_column) and a CSV text
column, trained and resumed through the CLI; and the task refusals, each one line, exit 1, no run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests.conftest import write_config

CNN = {"architecture": "cnn", "filters": [8], "dense": [16]}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _write_images(folder: Path, n: int = 40, seed: int = 0) -> Path:
    """``n`` 16×16 gray PNGs of random brightness and images.csv: file, brightness, tags, kind.

    Half the paths sit in a sub-folder (relative to the CSV), the last one is absolute.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "img").mkdir(parents=True)
    lines = ["file,brightness,tags,kind"]
    for i in range(n):
        level = float(rng.uniform(20, 235))
        pixels = np.clip(rng.normal(level, 8, (16, 16)), 0, 255).astype(np.uint8)
        rel = f"img/{i}.png" if i % 2 else f"{i}.png"
        Image.fromarray(pixels).save(folder / rel)
        cell = str(folder / rel) if i == n - 1 else rel
        tags = ";".join(t for t, on in (("bright", level > 128), ("odd", i % 2 == 1)) if on)
        lines.append(f"{cell},{level:.2f},{tags},{'light' if level > 128 else 'dark'}")
    (folder / "images.csv").write_text("\n".join(lines) + "\n")
    return folder / "images.csv"


@pytest.fixture(scope="module")
def image_csv(tmp_path_factory) -> Path:
    return _write_images(tmp_path_factory.mktemp("image_csv"))


def _image_config(path: Path, csv: Path, task: str, label: str, **dataset) -> Path:
    return write_config(path, {
        "name": f"img-{task}", "seed": 3, "task": task,
        "dataset": {"name": "csv", "path": str(csv), "label": label, "image_column": "file", **dataset},
        "model": CNN, "training": {"epochs": 2, "batch_size": 8},
    })


def _train(config: Path, run: Path, *extra):
    result = _invoke("train", config, "--run-dir", run, *extra)
    assert result.exit_code == 0, result.output
    return run


def _final_weights(run: Path):
    import keras

    return keras.models.load_model(run / "last.keras").get_weights()


# --- images from a CSV of paths ------------------------------------------------------------------


def test_image_regression_trains_resumes_exactly_and_answers_in_the_target_unit(image_csv, tmp_path):
    import keras

    config = _image_config(tmp_path / "reg.yaml", image_csv, "regression", "brightness")
    whole = _train(config, tmp_path / "whole")
    run = _train(config, tmp_path / "run", "--set", "training.epochs=1")
    resumed = _invoke("train", "--resume", run, "--set", "training.epochs=2")
    assert resumed.exit_code == 0, resumed.output
    for a, b in zip(_final_weights(whole), _final_weights(run)):
        np.testing.assert_array_equal(a, b)  # 1 epoch + resume = 2 epochs in one go

    spec = json.loads((run / "meta.json").read_text())["input"]
    assert (spec["kind"], spec["shape"], spec["task"]) == ("image", [16, 16, 1], "regression")
    assert (spec["image_column"], spec["class_names"], spec["label_column"]) == ("file", ["brightness"], "brightness")
    data = json.loads((run / "data.json").read_text())
    assert data["source"] == "csv" and data["image_cache"]["mode"] == "memory" and data["skipped_count"] == 0
    assert sum(s["samples"] for s in data["splits"].values()) == 40
    train_stats = data["splits"]["train"]["targets"]["brightness"]
    model = keras.models.load_model(run / "best.keras")
    assert model.get_layer("target_units").get_config()["mean"] == pytest.approx([train_stats["mean"]], rel=1e-5)
    assert not (run / "split.json").exists()  # the CSV is the record; evaluate rebuilds from it


def test_image_multilabel_streams_the_files_without_a_cache(image_csv, tmp_path):
    config = _image_config(tmp_path / "ml.yaml", image_csv, "multilabel", "tags", cache="none",
                           augment={"flip": "horizontal"})
    run = _train(config, tmp_path / "run")
    spec = json.loads((run / "meta.json").read_text())["input"]
    assert spec["class_names"] == ["bright", "odd"] and spec["label_separator"] == ";"
    data = json.loads((run / "data.json").read_text())
    assert data["image_cache"]["mode"] == "stream"
    assert set(data["splits"]["train"]["per_label"]) == {"bright", "odd"}


def test_image_classification_skips_bad_rows_then_evaluates_another_csv_of_paths(image_csv, tmp_path):
    folder = image_csv.parent
    csv = folder / "with_bad.csv"  # beside the images its relative paths name
    (tmp_path / "broken.png").write_bytes(b"not a png")
    lines = image_csv.read_text().splitlines()
    lines += [f"{folder / 'gone.png'},50,,dark", f"{tmp_path / 'broken.png'},60,,dark", ",70,,dark"]
    csv.write_text("\n".join(lines) + "\n")
    config = _image_config(tmp_path / "cls.yaml", csv, "classification", "kind", on_bad_file="skip",
                           image_size=[12, 12], color_mode="rgb")
    run = _train(config, tmp_path / "run")
    data = json.loads((run / "data.json").read_text())
    assert data["input_shape"] == [12, 12, 3] and data["classes"] == ["dark", "light"]
    assert [(s["line"], s["reason"].split(" (")[0]) for s in data["skipped"]] == [
        (42, "no such file"), (43, "not an image Pillow can read"), (44, "no image path in the cell")]
    assert sum(s["samples"] for s in data["splits"].values()) == 40

    # evaluate --data on another CSV of the same column: its paths read as predict reads the files
    other = _write_images(tmp_path / "other", seed=5)
    evaluated = _invoke("evaluate", run, "--data", other, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    rows = [line.split(",") for line in other.read_text().splitlines()[1:]]
    files = [Path(f) if Path(f).is_absolute() else other.parent / f for f, *_ in rows]
    predicted = _invoke("predict", *files, "--model", run, "--json")
    assert predicted.exit_code == 0, predicted.output
    labels = {p["input"]: p["label"] for p in json.loads(predicted.output)["predictions"]}
    right = sum(labels[str(f)] == row[3] for f, row in zip(files, rows))
    assert report["samples"] == 40 and report["accuracy"] == pytest.approx(right / 40)
    (other.parent / "no_paths.csv").write_text("brightness,kind\n50,dark\n")
    refused = _invoke("evaluate", run, "--data", other.parent / "no_paths.csv")
    assert refused.exit_code == 1 and "no image column 'file'" in refused.output
    assert len(refused.output.strip().splitlines()) == 1


# --- text from a CSV column ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    score = {"good": 1.0, "great": 2.0, "bad": -1.0, "awful": -2.0, "fine": 0.5, "ok": 0.0, "dull": -0.5}
    lines = ["text,score,tags"]
    for _ in range(48):
        words = rng.choice(list(score), 5)
        total = sum(score[w] for w in words)
        tags = ";".join(t for t, on in (("positive", total > 0), ("strong", "great" in words or "awful" in words))
                        if on)
        lines.append(f"{' '.join(words)},{total},{tags}")
    path = tmp_path_factory.mktemp("text_csv") / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


MODELS = {"rnn": {"architecture": "rnn", "units": [8], "embedding_dim": 8},
          "transformer": {"architecture": "transformer", "embed_dim": 8, "num_heads": 1, "ff_dim": 8,
                          "num_layers": 1}}


# Each architecture resumes once (resuming is the same for every task; the tracing each run costs adds up).
@pytest.mark.parametrize("task,label,arch,resume", [
    ("regression", "score", "rnn", False), ("regression", "score", "transformer", True),
    ("multilabel", "tags", "rnn", True), ("multilabel", "tags", "transformer", False)])
def test_text_column_regression_and_multilabel_train_and_resume(text_csv, tmp_path, task, label, arch, resume):
    config = write_config(tmp_path / "t.yaml", {
        "name": "text", "seed": 2, "task": task,
        "dataset": {"name": "csv", "path": str(text_csv), "label": label, "text_column": "text",
                    "max_tokens": 20, "sequence_length": 6},
        "model": MODELS[arch], "training": {"epochs": 1, "batch_size": 16},
    })
    run = _train(config, tmp_path / "run")
    if resume:
        resumed = _invoke("train", "--resume", run, "--set", "training.epochs=2")
        assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "state.json").read_text())["epoch"] == (2 if resume else 1)
    spec = json.loads((run / "meta.json").read_text())["input"]
    assert (spec["kind"], spec["task"], spec["text_column"]) == ("text", task, "text")
    assert spec["class_names"] == (["score"] if task == "regression" else ["positive", "strong"])


# --- refusals: one line, exit 1, nothing in a run directory -----------------------------------------


def _refused(tmp_path: Path, monkeypatch, config: dict, *needles: str) -> str:
    """Train ``config`` from an empty folder: the error is one line naming ``needles``; no run directory."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    path = write_config(tmp_path / "c.yaml", config)
    result = _invoke("train", path)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert list(work.iterdir()) == []  # not even runs/<name>/
    again = _invoke("train", path, "--run-dir", work / "explicit")
    assert again.exit_code == 1 and not (work / "explicit").exists(), again.output
    return lines[0]


def _table(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("\n".join(["x,y,price,tags"] + rows) + "\n")
    return path


TABLE_ROWS = [f"{i},{i % 3},{i * 1.5},{'a;b' if i % 2 else 'a'}" for i in range(30)]


def _table_config(csv: Path, task: str, label: str, model=None, **training) -> dict:
    return {"name": "refused", "task": task,
            "dataset": {"name": "csv", "path": str(csv), "label": label, "features": ["x", "y"]},
            "model": model or {"architecture": "mlp", "units": [4]}, "training": {"epochs": 1, **training}}


def test_a_non_numeric_regression_target_names_the_line_and_column(tmp_path, monkeypatch):
    csv = _table(tmp_path, TABLE_ROWS[:7] + ["7,1,cheap,a"] + TABLE_ROWS[8:])
    _refused(tmp_path, monkeypatch, _table_config(csv, "regression", "price"), "line 9", "column 'price'", "'cheap'")


def test_a_non_numeric_target_of_an_image_csv_fails_before_reading_images(image_csv, tmp_path, monkeypatch):
    lines = image_csv.read_text().splitlines()
    cells = lines[5].split(",")
    lines[5] = ",".join([cells[0], "bright"] + cells[2:])
    csv = image_csv.parent / "bad_target.csv"
    csv.write_text("\n".join(lines + ["nowhere.png,80,odd,dark"]) + "\n")  # the missing image is not reached
    config = {"name": "refused", "task": "regression", "model": CNN,
              "dataset": {"name": "csv", "path": str(csv), "label": "brightness", "image_column": "file"}}
    _refused(tmp_path, monkeypatch, config, "line 6", "column 'brightness'")
    config.update(task="multilabel", dataset=dict(config["dataset"], label="tags", label_separator=","))
    _refused(tmp_path, monkeypatch, config, "column 'tags'", "label_separator ','")


def test_a_missing_image_names_the_line_and_column(image_csv, tmp_path, monkeypatch):
    csv = image_csv.parent / "missing_image.csv"
    csv.write_text(image_csv.read_text() + "nowhere.png,80,,dark\n")
    config = {"name": "refused", "task": "regression", "model": CNN,
              "dataset": {"name": "csv", "path": str(csv), "label": "brightness", "image_column": "file"}}
    _refused(tmp_path, monkeypatch, config, "line 42", "column 'file'", "'nowhere.png'", "no such file",
             "on_bad_file: skip")


def test_a_label_separator_that_never_occurs(tmp_path, monkeypatch):
    csv = _table(tmp_path, TABLE_ROWS)
    config = _table_config(csv, "multilabel", "tags")
    config["dataset"]["label_separator"] = "|"
    _refused(tmp_path, monkeypatch, config, "column 'tags'", "label_separator '|'")


@pytest.mark.parametrize("case,needles", [
    ("mnist", ("task", "dataset.name mnist")),
    ("cnn_on_a_table", ("model.architecture", "'cnn' does not take tabular data")),
    ("loss_for_classification", ("training.loss",)),
    ("label_smoothing_for_regression", ("training.label_smoothing",)),
    ("class_weight_for_regression", ("training.class_weight",)),
    ("image_column_and_text_column", ("dataset.image_column", "dataset.text_column")),
    ("image_size_without_images", ("dataset.image_size", "dataset.image_column")),
])
def test_task_refusals(tmp_path, monkeypatch, case, needles):
    csv = _table(tmp_path, TABLE_ROWS)
    config = {
        "mnist": {"name": "refused", "task": "regression", "dataset": {"name": "mnist"}, "model": CNN},
        "cnn_on_a_table": _table_config(csv, "regression", "price", model=CNN),
        "loss_for_classification": _table_config(csv, "classification", "y", loss="mae"),
        "label_smoothing_for_regression": _table_config(csv, "regression", "price", label_smoothing=0.1),
        "class_weight_for_regression": _table_config(csv, "regression", "price", class_weight="balanced"),
        "image_column_and_text_column": {"name": "refused", "model": CNN, "dataset": {
            "name": "csv", "path": str(csv), "label": "y", "image_column": "x", "text_column": "tags"}},
        "image_size_without_images": {"name": "refused", "model": {"architecture": "mlp"}, "dataset": {
            "name": "csv", "path": str(csv), "label": "y", "image_size": [8, 8]}},
    }[case]
    _refused(tmp_path, monkeypatch, config, *needles)


def test_a_model_class_can_refuse_a_task(tmp_path):
    """``tasks`` on a model config class restricts what it may answer (no built-in architecture does today:
    each ends in features that the factory gives the task's head)."""
    from types import SimpleNamespace
    from typing import ClassVar

    from pydantic_core import PydanticCustomError

    from aimodel.config import load_config
    from aimodel.config.schema import check_task
    from aimodel.models.cnn import CnnModel

    class ClassesOnly(CnnModel):
        tasks: ClassVar[tuple[str, ...]] = ("classification",)

    csv = _table(tmp_path, TABLE_ROWS)
    cfg = load_config(write_config(tmp_path / "c.yaml", _table_config(csv, "regression", "price")))
    stub = SimpleNamespace(task="regression", dataset=cfg.dataset, model=ClassesOnly(), training=cfg.training,
                           search=None, model_fields_set={"task"})
    with pytest.raises(PydanticCustomError, match="model.architecture cnn cannot do it; it does classification"):
        check_task(stub)
