"""Generators of small on-disk datasets in each source's layout (written to tmp_path only)."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def band_image(label: int, size: int = 16, rgb: bool = True, seed: int = 0) -> np.ndarray:
    """Noise with a bright vertical band whose position is the class: learnable in an epoch or two."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if rgb else (size, size)
    a = rng.integers(0, 50, shape).astype(np.uint8)
    width = max(1, size // 4)
    a[:, label * width : (label + 1) * width] = 230
    return a


def image_folder(root: Path, classes=("cat", "dog", "emu"), per_class: int = 12, size: int = 16,
                 rgb: bool = True, ext: str = "png") -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(band_image(c, size, rgb, seed=100 * c + i)).save(root / name / f"{i}.{ext}")
    return root


def text_folder(root: Path, per_class: int = 10) -> Path:
    words = {"pos": ["great", "lovely", "superb", "fun"], "neg": ["awful", "boring", "bad", "dull"]}
    for name, vocab in words.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / name / f"{i}.txt").write_text(f"a {vocab[i % 4]} film, {vocab[(i + 1) % 4]} acting", encoding="utf-8")
    return root


def fashion_files(folder: Path, n_train: int = 60, n_test: int = 20) -> Path:
    """Keras' four Fashion-MNIST IDX .gz files."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(name, arr, magic):
        header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + arr.astype(np.uint8).tobytes())

    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % 4).astype(np.uint8)
        x = np.stack([band_image(int(k), 28, rgb=False, seed=i) for i, k in enumerate(y)])
        write(f"{prefix}-labels-idx1-ubyte.gz", y, 2049)
        write(f"{prefix}-images-idx3-ubyte.gz", x, 2051)
    return folder


def _cifar_batch(n: int, label_key: str, classes: int, seed: int) -> bytes:
    y = [i % classes for i in range(n)]
    x = np.stack([band_image(k % 4, 32, rgb=True, seed=seed + i).transpose(2, 0, 1).reshape(-1)
                  for i, k in enumerate(y)])
    return pickle.dumps({b"data": x, label_key.encode(): y, b"batch_label": b"x"}, protocol=2)


def cifar10_tar(path: Path, per_batch: int = 8) -> Path:
    """cifar-10-python.tar.gz: cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta."""
    members = {f"data_batch_{i}": _cifar_batch(per_batch, "labels", 4, 10 * i) for i in range(1, 6)}
    members["test_batch"] = _cifar_batch(per_batch * 2, "labels", 4, 99)
    members["batches.meta"] = pickle.dumps({b"label_names": [b"plane", b"car", b"bird", b"cat"]}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def cifar100_dir(folder: Path, n: int = 40) -> Path:
    """An extracted cifar-100-python folder: train, test, meta."""
    inner = folder / "cifar-100-python"
    inner.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train", n, 0), ("test", n // 2, 500)):
        y = [i % 4 for i in range(count)]
        x = np.stack([band_image(k, 32, rgb=True, seed=seed + i).transpose(2, 0, 1).reshape(-1) for i, k in enumerate(y)])
        (inner / name).write_bytes(pickle.dumps({b"data": x, b"fine_labels": y, b"coarse_labels": [k // 2 for k in y]}))
    (inner / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"apple", b"bee", b"cup", b"dog"],
                                               b"coarse_label_names": [b"food", b"things"]}))
    return folder


def sequences_npz(path: Path, keys: dict[str, list]) -> Path:
    """An npz of ragged object arrays, as Keras' imdb.npz / reuters.npz store them."""
    arrays = {}
    for k, v in keys.items():
        if v and isinstance(v[0], list):
            arr = np.empty(len(v), dtype=object)
            arr[:] = v
            arrays[k] = arr
        else:
            arrays[k] = np.asarray(v, np.int64)
    np.savez(path, **arrays)
    return path


WORDS = {"the": 1, "movie": 2, "was": 3, "great": 4, "awful": 5, "plot": 6}


def word_index(path: Path) -> Path:
    path.write_text(json.dumps(WORDS))
    return path
