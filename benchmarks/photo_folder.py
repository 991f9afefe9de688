"""A small photo folder like the one of issue 31: ~2,000 100×100 colour JPEGs in class folders.

MNIST digits (../shared/data/mnist via benchmarks.data, else scikit-learn's digits) upscaled to
100×100, dark ink on a tinted paper with a little noise, saved as JPEG (quality 90) under
``DIR/<label>/NNNNN.jpg``. Deterministic; written once (a ``.complete`` marker).

    python -m benchmarks.photo_folder [DIR] [-n 2000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.harness import OUT


def make(root: Path = OUT / "photo_folder", n: int = 2000, size: int = 100) -> Path:
    """Write the folder (once) and return it."""
    from PIL import Image

    from benchmarks import data

    done = root / ".complete"
    if done.is_file():
        return root
    npz, _ = data.prepare()
    with np.load(npz) as d:
        x, y = d["x_train"][:n], d["y_train"][:n]
    rng = np.random.default_rng(31)
    for label in np.unique(y):
        (root / str(int(label))).mkdir(parents=True, exist_ok=True)
    for i in range(len(x)):
        ink = Image.fromarray(x[i]).resize((size, size), Image.BILINEAR)
        a = np.asarray(ink, np.float32)[..., None] / 255.0
        paper = rng.uniform(170, 250, 3).astype(np.float32)
        pen = rng.uniform(0, 90, 3).astype(np.float32)
        rgb = paper * (1 - a) + pen * a + rng.normal(0, 6, (size, size, 1)).astype(np.float32)
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(
            root / str(int(y[i])) / f"{i:05d}.jpg", quality=90)
    done.touch()
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", nargs="?", type=Path, default=OUT / "photo_folder")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    print(make(args.dir, args.n))

