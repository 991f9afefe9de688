"""The benchmark data: 8,000 + 2,000 real MNIST digits as an npz, or scikit-learn digits.

MNIST comes from the 10,000-image test set kept beside the project (``../shared/data/mnist``,
or ``$AIMODEL_MNIST_DIR``) as the original gzip'd IDX files; it is decoded here with NumPy
and never copied into the repository. First 8,000 images train, last 2,000 test.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
N_TRAIN = 8000


def mnist_dir() -> Path:
    env = os.environ.get("AIMODEL_MNIST_DIR")
    return Path(env).expanduser() if env else ROOT.parent / "shared" / "data" / "mnist"


def read_idx(path: Path) -> np.ndarray:
    """Decode a gzip'd IDX file: big-endian magic (last byte = rank), one uint32 per dim, uint8 data."""
    raw = gzip.decompress(path.read_bytes())
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    rank = raw[3]
    dims = np.frombuffer(raw, ">u4", count=rank, offset=4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {tuple(dims)} but holds {data.size} bytes")
    return data.reshape(tuple(dims))


def prepare() -> tuple[Path, str]:
    """Write the benchmark npz (x_train, y_train, x_test, y_test, uint8) once; return (path, description)."""
    OUT.mkdir(parents=True, exist_ok=True)
    src = mnist_dir()
    if (src / IMAGES).is_file() and (src / LABELS).is_file():
        path = OUT / "mnist_8k.npz"
        what = f"MNIST test set from {src}: first {N_TRAIN} images train, last 2,000 test (28×28)"
        if not path.is_file():
            x, y = read_idx(src / IMAGES), read_idx(src / LABELS)
            _save(path, x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:])
        return path, what
    path = OUT / "digits.npz"
    what = "scikit-learn digits (MNIST not found; set AIMODEL_MNIST_DIR): first 1,437 train, last 360 test (8×8)"
    if not path.is_file():
        from sklearn.datasets import load_digits

        d = load_digits()
        x = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        n = len(x) - 360
        _save(path, x[:n], d.target[:n], x[n:], d.target[n:])
    return path, what


def _save(path: Path, x_train, y_train, x_test, y_test) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=x_train, y_train=y_train.astype(np.uint8),
             x_test=x_test, y_test=y_test.astype(np.uint8))
    os.replace(tmp, path)
