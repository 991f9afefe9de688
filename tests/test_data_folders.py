"""Folder sources: layouts, class names, mixed image files, bad files, splits and their record."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.data.base import fingerprint
from aimodel.data.imagefiles import ImageFiles
from aimodel.data.records import recorded_test_split, write_records
from aimodel.errors import DataError
from tests._data_fixtures import band_image, image_folder, text_folder
from tests.conftest import TINY, write_config


def _cfg(tmp_path, dataset: dict, seed: int = 7):
    dataset = dict({"validation_split": 0.25}, **dataset)  # tiny folders: one held-out file per class
    return load_config(write_config(tmp_path / "c.yaml", dict(TINY, seed=seed, dataset=dataset)))


def _bundle(tmp_path, dataset: dict, seed: int = 7):
    cfg = _cfg(tmp_path, dataset, seed)
    return load_data(cfg.dataset, cfg.seed)


def test_image_folder_streams_files_with_names_from_folders(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=10)
    b = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "test_split": 0.2, "validation_split": 0.25})
    assert b.spec.kind == "image" and b.spec.class_names == ["cat", "dog", "emu"]
    assert b.spec.shape == (16, 16, 3)
    assert isinstance(b.train.x, ImageFiles) and b.train.streamed  # paths, not pixels
    assert (len(b.train), len(b.val), len(b.test)) == (18, 6, 6)
    all_files = b.train.x.relative_paths() + b.val.x.relative_paths() + b.test.x.relative_paths()
    assert len(set(all_files)) == 30  # disjoint and complete
    for split in (b.train, b.val, b.test):  # stratified
        assert np.bincount(split.y, minlength=3).min() >= 2
    # Labels follow the folder each file is in.
    for path, label in zip(b.test.x.relative_paths(), b.test.y):
        assert path.split("/")[0] == b.spec.class_names[label]
    decoded = b.test.x.load([0])
    assert decoded.shape == (1, 16, 16, 3) and decoded.dtype == np.uint8
    # Seeded: the same seed gives the same test files, another seed other ones.
    again = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "test_split": 0.2, "validation_split": 0.25})
    assert fingerprint(again.test) == fingerprint(b.test)
    other = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "test_split": 0.2, "validation_split": 0},
                    seed=8)
    assert fingerprint(other.test) != fingerprint(b.test)


def test_explicit_train_val_test_folders_are_used_as_given(tmp_path):
    root = tmp_path / "d"
    image_folder(root / "train", per_class=6)
    image_folder(root / "val", per_class=2)
    image_folder(root / "test", classes=("cat", "dog"), per_class=3)
    b = _bundle(tmp_path, {"name": "image_folder", "path": str(root)})
    assert (len(b.train), len(b.val), len(b.test)) == (18, 6, 6)
    assert all(p.startswith("test/") for p in b.test.x.relative_paths())
    assert b.notes["test_from"] == "folders"


def test_mixed_sizes_and_modes_are_converted(tmp_path):
    root = image_folder(tmp_path / "d", classes=("a", "b"), per_class=4)
    base = band_image(1, 16)
    Image.fromarray(base).convert("RGBA").save(root / "a" / "rgba.png")
    Image.fromarray(base).convert("P").save(root / "a" / "palette.gif")
    Image.fromarray((base[..., 0].astype(np.uint16) * 257)).save(root / "b" / "deep16.png")
    Image.fromarray(base).resize((40, 30)).save(root / "b" / "big.jpg")
    Image.fromarray(base).convert("L").save(root / "b" / "gray.bmp")
    b = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "test_split": 0.3, "validation_split": 0})
    files = ImageFiles(root, ["a/rgba.png", "a/palette.gif", "b/deep16.png", "b/big.jpg", "b/gray.bmp"],
                       b.spec.shape)
    images = files.load()
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.uint8
    assert images[:, :, 4:8].mean() > 150 and images[:, :, 12:].mean() < 100  # the band survives every mode


def test_image_size_and_color_mode_options(tmp_path):
    root = image_folder(tmp_path / "d", classes=("a", "b"), per_class=5)
    b = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "image_size": [8, 12], "color_mode": "grayscale"})
    assert b.spec.shape == (8, 12, 1)
    assert b.train.x.load([0]).shape == (1, 8, 12, 1)
    gray = image_folder(tmp_path / "g", classes=("a", "b"), per_class=5, rgb=False)
    assert _bundle(tmp_path, {"name": "image_folder", "path": str(gray)}).spec.shape == (16, 16, 1)


@pytest.mark.parametrize("content, reason", [
    (b"this is not an image", "not an image Pillow can read"),
    (None, "corrupt or truncated"),
])
def test_bad_file_is_named_or_skipped_and_listed(tmp_path, content, reason):
    root = image_folder(tmp_path / "d", classes=("a", "b"), per_class=6)
    bad = root / "b" / "bad.png"
    if content is None:  # a real PNG cut in half
        data = (root / "b" / "0.png").read_bytes()
        Image.fromarray(band_image(0, 64)).save(bad)
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(content)
    with pytest.raises(DataError, match=rf"{bad}: {reason}.*on_bad_file: skip"):
        _bundle(tmp_path, {"name": "image_folder", "path": str(root)})
    b = _bundle(tmp_path, {"name": "image_folder", "path": str(root), "on_bad_file": "skip"})
    assert b.notes["skipped"] == [{"file": "b/bad.png", "reason": pytest.approx(b.notes["skipped"][0]["reason"])}]
    assert b.notes["skipped"][0]["reason"].startswith(reason)
    assert len(b.train) + len(b.val) + len(b.test) == 12
    write_records(b, tmp_path)
    data = json.loads((tmp_path / "data.json").read_text())
    assert data["skipped_count"] == 1 and data["skipped"][0]["file"] == "b/bad.png"


def test_empty_class_folder_is_named(tmp_path):
    root = image_folder(tmp_path / "d", classes=("a", "b"), per_class=4)
    (root / "c").mkdir()
    (root / "c" / "readme.md").write_text("no images here")
    with pytest.raises(DataError, match=rf"{root / 'c'}: empty class folder"):
        _bundle(tmp_path, {"name": "image_folder", "path": str(root)})


def test_single_class_is_an_error(tmp_path):
    root = image_folder(tmp_path / "d", classes=("only",), per_class=4)
    with pytest.raises(DataError, match=rf"{root}: a single class folder \('only'\)"):
        _bundle(tmp_path, {"name": "image_folder", "path": str(root)})


def test_test_class_never_seen_in_training_is_named(tmp_path):
    root = tmp_path / "d"
    image_folder(root / "train", classes=("a", "b"), per_class=4)
    image_folder(root / "test", classes=("a", "zebra"), per_class=2)
    with pytest.raises(DataError, match=rf"{root / 'test' / 'zebra'}: class 'zebra' never occurs in training"):
        _bundle(tmp_path, {"name": "image_folder", "path": str(root)})


def test_split_record_rebuilds_the_test_set_after_files_are_added(tmp_path):
    root = image_folder(tmp_path / "d", per_class=8)
    cfg = _cfg(tmp_path, {"name": "image_folder", "path": str(root)})
    b = load_data(cfg.dataset, cfg.seed)
    run = tmp_path / "run"
    run.mkdir()
    write_records(b, run)
    record = json.loads((run / "split.json").read_text())
    assert set(record["splits"]["test"]) == set(b.test.x.relative_paths())
    assert record["test_fingerprint"] == fingerprint(b.test)
    Image.fromarray(band_image(0)).save(root / "cat" / "new.png")  # the folder grows after training
    assert fingerprint(load_data(cfg.dataset, cfg.seed).test) != fingerprint(b.test)
    rebuilt = recorded_test_split(run, cfg, b.spec)
    assert fingerprint(rebuilt) == fingerprint(b.test)
    (root / b.test.x.relative_paths()[0]).unlink()
    with pytest.raises(DataError, match="listed in the run's test split .* but missing"):
        recorded_test_split(run, cfg, b.spec)


def test_text_folder_reads_utf8_and_records_test_files(tmp_path):
    root = text_folder(tmp_path / "reviews")
    b = _bundle(tmp_path, {"name": "text_folder", "path": str(root), "max_tokens": 500, "sequence_length": 16})
    assert b.spec.kind == "text" and b.spec.class_names == ["neg", "pos"]
    assert b.spec.max_tokens == 500 and b.spec.sequence_length == 16 and b.spec.shape == ()
    assert b.train.x.dtype == object and isinstance(b.train.x[0], str)
    assert len(b.train) + len(b.val) + len(b.test) == 20
    (root / "pos" / "latin1.txt").write_bytes("good\ncaf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt: line 2: byte\(s\) e9 are not utf-8 text; set dataset\.enc"):
        _bundle(tmp_path, {"name": "text_folder", "path": str(root), "encoding": "utf-8"})
    cfg = _cfg(tmp_path, {"name": "text_folder", "path": str(root), "on_bad_file": "skip", "encoding": "utf-8"})
    b = load_data(cfg.dataset, cfg.seed)
    assert b.notes["skipped"][0]["file"] == "pos/latin1.txt"
    write_records(b, tmp_path)
    rebuilt = recorded_test_split(tmp_path, cfg, b.spec)
    assert fingerprint(rebuilt) == fingerprint(b.test)


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.fromarray(band_image(0)).save(tmp_path / "flat" / "x.png")
    with pytest.raises(DataError, match=r"flat: no class folders; expected .*<class name>/<files>"):
        _bundle(tmp_path, {"name": "image_folder", "path": str(tmp_path / "flat")})
