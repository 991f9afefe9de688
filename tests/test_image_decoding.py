"""Training decodes every image file to exactly the pixels predict prepares from it, for every kind of file.

Training has three ways to decode a folder image: TensorFlow's PNG/JPEG decoders
inside the input pipeline (for files that need no conversion), Pillow called from
the pipeline (everything else), and the decoded-pixel cache filled by either. Predict
reads files with Pillow (:func:`aimodel.inference.images.prepare_image`). These tests
hold all of them to the same pixels.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from aimodel.data.base import Split
from aimodel.data.imagefiles import ImageFiles, choose_cache, scan_images, tf_decodable
from aimodel.data.images import NOT_PLAIN, PLAIN_JPEG, PLAIN_PNG
from aimodel.data.decoding import file_decoder, verified_plain
from aimodel.data.pipeline import make_inputs
from aimodel.data.spec import InputSpec
from aimodel.inference.images import prepare_image

SIZE = 16


def _rgb(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    smooth = np.stack([xx * 15, yy * 15, (xx + yy) * 7], -1) % 256
    return np.clip(smooth + rng.integers(-20, 20, smooth.shape), 0, 255).astype(np.uint8)


def _png16_rgb(path: Path, arr: np.ndarray) -> None:
    """A 48-bit RGB PNG (Pillow cannot write one; it reads it as mode RGB)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _files(root: Path) -> dict[str, int]:
    """One file per kind of image; the value is how the scan should classify it at 16×16."""
    root.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_rgb(0))
    rotated = Image.Exif()
    rotated[0x0112] = 6  # EXIF orientation: rotate 90° clockwise to display
    saves = {
        "gray.png": (rgb.convert("L"), {}, PLAIN_PNG),
        "rgb.png": (rgb, {}, PLAIN_PNG),
        "rgba.png": (Image.fromarray(np.dstack([_rgb(1), _rgb(2)[..., 0]])), {}, NOT_PLAIN),
        "la.png": (rgb.convert("LA"), {}, NOT_PLAIN),
        "palette_transparent.png": (rgb.convert("P"), {"transparency": 3}, NOT_PLAIN),
        "palette.gif": (rgb.convert("P"), {}, NOT_PLAIN),
        "bilevel.png": (rgb.convert("1"), {}, NOT_PLAIN),
        "deep16.png": (Image.fromarray(_rgb(3)[..., 0].astype(np.uint16) * 250), {}, NOT_PLAIN),
        "rgb.jpg": (rgb, {"quality": 90}, PLAIN_JPEG),
        "rgb444_progressive.jpg": (rgb, {"subsampling": 0, "progressive": True}, PLAIN_JPEG),
        "gray.jpg": (rgb.convert("L"), {}, PLAIN_JPEG),
        "cmyk.jpg": (rgb.convert("CMYK"), {}, NOT_PLAIN),
        "exif_rotated.jpg": (Image.fromarray(_rgb(4)), {"exif": rotated}, NOT_PLAIN),
        "exif_rotated.png": (Image.fromarray(_rgb(5)), {"exif": rotated}, NOT_PLAIN),
        "rgb.bmp": (rgb, {}, NOT_PLAIN),
        "rgb.tif": (rgb, {}, NOT_PLAIN),
        "big_photo.jpg": (Image.fromarray(_rgb(6, 40)).resize((40, 30)), {}, NOT_PLAIN),  # resized
    }
    expected = {}
    for name, (img, options, kind) in saves.items():
        img.save(root / name, **options)
        expected[name] = kind
    _png16_rgb(root / "deep48.png", _rgb(7).astype(np.uint16) * 257)
    expected["deep48.png"] = NOT_PLAIN
    return expected


def _epoch(split: Split) -> np.ndarray:
    """One pass over a split as the training pipeline decodes it."""
    return np.concatenate([b.numpy() for b in make_inputs(split, batch_size=5)])


@pytest.mark.parametrize("channels", [3, 1])
def test_training_and_predict_decode_every_kind_of_file_identically(tmp_path, channels):
    root = tmp_path / "images"
    expected_kind = _files(root)
    paths = sorted(root.iterdir())
    scan = scan_images(paths, "error", root)
    assert len(scan.good) == len(paths)
    shape = (SIZE, SIZE, channels)
    plain = [tf_decodable(scan.info[p], shape) for p in paths]
    for p, kind in zip(paths, plain):
        wanted = expected_kind[p.name]
        if channels == 1 and scan.info[p].mode == "RGB":
            wanted = NOT_PLAIN  # RGB to gray mixes channels: Pillow's formula, not the decoder's
        assert kind == wanted, p.name
    spec = InputSpec(kind="image", shape=shape, class_names=["a", "b"])
    predicted = np.stack([prepare_image(p, spec) for p in paths])
    assert predicted.shape == (len(paths),) + shape
    y = np.zeros(len(paths), np.int64)
    rel = [p.name for p in paths]

    streamed = ImageFiles(root, rel, shape, None, plain)  # TensorFlow for plain files, Pillow for the rest
    assert verified_plain(streamed).tolist() == plain  # TensorFlow's decoders agree: no fallback to Pillow
    decode = file_decoder(streamed)  # one file per call, as a folder of mostly plain files streams
    per_file = np.stack([decode(tf.constant(i, tf.int64)).numpy() for i in range(len(paths))])
    np.testing.assert_array_equal(per_file, predicted)
    np.testing.assert_array_equal(_epoch(Split(streamed, y)), predicted)  # a batch of files per Pillow call
    pillow_only = ImageFiles(root, rel, shape)
    np.testing.assert_array_equal(pillow_only.load(), predicted)
    cached = ImageFiles(root, rel, shape, "memory", plain)
    cached.fill()
    assert cached.pixels is not None
    np.testing.assert_array_equal(_epoch(Split(cached, y)), predicted)
    on_disk = ImageFiles(root, rel, shape, tmp_path / "pixels", plain)
    on_disk.fill()
    np.testing.assert_array_equal(_epoch(Split(on_disk, y)), predicted)


def test_exif_rotation_is_applied_by_both(tmp_path):
    # A 16×8 photo stored sideways: read upright, it is 8 wide and 16 high.
    stored = np.zeros((8, 16, 3), np.uint8)
    stored[:, :4] = 255  # a white bar at the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    spec = InputSpec(kind="image", shape=(16, 8, 3), class_names=["a", "b"])
    upright = prepare_image(tmp_path / "sideways.jpg", spec)
    assert upright[:4].mean() > 200 and upright[-4:].mean() < 50  # the bar is now at the top
    files = ImageFiles(tmp_path, ["sideways.jpg"], (16, 8, 3))
    np.testing.assert_array_equal(_epoch(Split(files, np.zeros(1, np.int64))), upright[None])


def test_auto_cache_picks_memory_then_disk_then_streaming(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMODEL_CACHE_DIR", str(tmp_path / "cache"))
    mb = 2**20
    cache, note = choose_cache("auto", 6 * mb, memory_budget_mb=100)
    assert cache == "memory" and note["mode"] == "memory" and "fits the budget of 100.0 MB" in note["decision"]
    cache, note = choose_cache("auto", 200 * mb, memory_budget_mb=100)
    assert cache == tmp_path / "cache" and note["mode"] == "disk" and "over the memory budget" in note["decision"]
    monkeypatch.setattr("aimodel.data.imagefiles._free_disk", lambda folder: 300 * mb)
    cache, note = choose_cache("auto", 200 * mb, memory_budget_mb=100)
    assert cache is None and note["mode"] == "stream" and "decoded every epoch" in note["decision"]
    # The default budget is a share of the memory available now.
    monkeypatch.setattr("aimodel.data.imagefiles.available_memory", lambda: 400 * mb)
    assert choose_cache("auto", 90 * mb)[0] == "memory"
    assert choose_cache("auto", 110 * mb)[1]["memory_budget_mb"] == 100.0
    # Explicit settings are obeyed.
    assert choose_cache("none", mb)[0] is None and choose_cache(None, mb)[0] is None
    assert choose_cache("memory", 10**6 * mb)[0] == "memory"
    assert choose_cache(tmp_path / "px", mb)[0] == tmp_path / "px"


def test_image_folder_decision_is_recorded_and_the_cache_reused(tmp_path, monkeypatch):
    from aimodel.config import load_config
    from aimodel.data import load_data
    from tests._data_fixtures import image_folder
    from tests.conftest import TINY, write_config

    root = image_folder(tmp_path / "d", per_class=6)
    monkeypatch.setenv("AIMODEL_CACHE_DIR", str(tmp_path / "cache"))

    def bundle(**dataset):
        cfg = load_config(write_config(tmp_path / "c.yaml", dict(TINY, dataset=dict(
            {"name": "image_folder", "path": str(root), "validation_split": 0}, **dataset))))
        return load_data(cfg.dataset, cfg.seed)

    b = bundle()  # auto, and a few KB always fit in memory
    assert b.notes["image_cache"]["mode"] == "memory" and b.train.x.cache == "memory"
    assert b.train.x.plain.min() == PLAIN_PNG  # 16×16 RGB PNGs: TensorFlow decodes them
    b = bundle(cache_memory_mb=0.001)  # over that budget: a decoded-pixel file under AIMODEL_CACHE_DIR
    assert b.notes["image_cache"]["mode"] == "disk"
    assert b.train.x.fill() >= 0 and isinstance(b.train.x.pixels, np.memmap)
    files = list((tmp_path / "cache").glob("images-*.npy"))
    assert len(files) == 1
    again = bundle(cache_memory_mb=0.001)
    again.train.x.fill()
    assert list((tmp_path / "cache").glob("images-*.npy")) == files  # reused, not written again
    (root / "cat" / "0.png").touch()  # a changed file gives a new cache file
    changed = bundle(cache_memory_mb=0.001)
    changed.train.x.fill()
    assert len(list((tmp_path / "cache").glob("images-*.npy"))) == 2
    assert bundle(cache="none").train.x.cache is None
