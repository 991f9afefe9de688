"""Each image source trains, evaluates and predicts end to end through the CLI (tiny, one epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main
from tests._data_fixtures import band_image, cifar10_tar, cifar100_dir, fashion_files, image_folder
from tests.conftest import write_npz, write_config


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _dataset(name: str, tmp_path: Path) -> dict:
    if name == "image_folder":
        return {"name": name, "path": str(image_folder(tmp_path / "pets", per_class=10)), "validation_split": 0.2,
                "augment": {"flip": "vertical"}}
    if name == "npz":
        return {"name": name, "path": str(write_npz(tmp_path / "d.npz", size=16, classes=3)),
                "class_names": ["tl", "tr", "bl"], "validation_split": 0.2}
    if name == "mnist":
        return {"name": name, "path": str(write_npz(tmp_path / "mnist.npz", size=28, classes=3)), "validation_split": 0.2}
    if name == "fashion_mnist":
        return {"name": name, "path": str(fashion_files(tmp_path / "fashion-mnist")), "validation_split": 0.2}
    if name == "cifar10":
        return {"name": name, "path": str(cifar10_tar(tmp_path / "cifar-10-python.tar.gz")), "validation_split": 0.2}
    return {"name": name, "path": str(cifar100_dir(tmp_path / "c100")), "validation_split": 0.2,
            "normalize": "standardize"}


@pytest.mark.parametrize("source", ["image_folder", "npz", "mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_source_trains_evaluates_and_predicts_from_the_cli(tmp_path, source):
    dataset = _dataset(source, tmp_path)
    config = write_config(tmp_path / "c.yaml", {
        "name": f"e2e-{source}", "seed": 3, "dataset": dataset,
        "model": {"architecture": "cnn", "filters": [4], "dense": [8]},
        "training": {"epochs": 1, "batch_size": 8, "steps_per_execution": 1},
    })
    trained = _invoke("train", config, "--runs-root", tmp_path / "runs", "--quiet")
    assert trained.exit_code == 0, trained.output
    run = Path(trained.output.strip().splitlines()[-1])
    meta = json.loads((run / "meta.json").read_text())
    data = json.loads((run / "data.json").read_text())
    assert sum(s["samples"] for s in data["splits"].values()) == sum(meta["splits"].values())

    report = _invoke("evaluate", run, "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["samples"] == meta["splits"]["test"]

    names = meta["input"]["class_names"]
    height, width, channels = meta["input"]["shape"]
    photo = tmp_path / "photo.png"
    Image.fromarray(band_image(1, 40, rgb=channels == 3)).save(photo)  # a bigger picture: predict resizes it
    predicted = _invoke("predict", photo, "--model", run, "--json")
    assert predicted.exit_code == 0, predicted.output
    label = json.loads(predicted.output)["predictions"][0]["label"]
    assert label in names


def test_folder_model_prints_class_names_and_evaluates_the_recorded_test_files(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=10)
    config = write_config(tmp_path / "c.yaml", {
        "name": "pets", "seed": 1, "dataset": {"name": "image_folder", "path": str(root), "validation_split": 0.2},
        "model": {"architecture": "cnn", "filters": [8], "dense": [16]},
        "training": {"epochs": 8, "batch_size": 8, "learning_rate": 0.01, "steps_per_execution": 1},
    })
    trained = _invoke("train", config, "--runs-root", tmp_path / "runs", "--quiet")
    assert trained.exit_code == 0, trained.output
    run = Path(trained.output.strip().splitlines()[-1])
    split = json.loads((run / "split.json").read_text())
    assert len(split["splits"]["test"]) == 6 and all(v in {"cat", "dog", "emu"} for v in split["splits"]["test"].values())
    # New files in the folder after training do not change what evaluate scores.
    for i in range(5):
        Image.fromarray(band_image(2, 16, seed=999 + i)).save(root / "emu" / f"late{i}.png")
    report = _invoke("evaluate", run, "--json")
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["samples"] == 6
    photos = []
    for k, name in enumerate(["cat", "dog", "emu"]):
        photos.append(tmp_path / f"{name}.png")
        Image.fromarray(band_image(k, 48, seed=7)).convert("RGBA").save(photos[-1])
    result = _invoke("predict", *photos, "--model", run, "--json")
    assert result.exit_code == 0, result.output
    labels = [p["label"] for p in json.loads(result.output)["predictions"]]
    assert sum(label == name for label, name in zip(labels, ["cat", "dog", "emu"])) >= 2, labels
    table = _invoke("predict", photos[0], "--model", run)
    assert table.exit_code == 0 and f" {labels[0]} " in table.output  # names, not indices
