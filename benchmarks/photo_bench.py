"""Figure 12: held-out MNIST test digits as phone photos, per condition, against the clean digits.

``python benchmarks/photo_bench.py RUN NPZ [N]`` renders the first ``N`` (default 60) held-out
test digits of the benchmark's npz under every condition of :mod:`benchmarks.photos`, predicts
them with ``aimodel.predict`` (the preparation predict, evaluate ``--data`` and serve share) with
its defaults and with ``crop=False``, and prints a ``bench: {json}`` line: accuracy per condition
beside the same digits saved as 28×28 PNGs (the clean accuracy).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.photos import CONDITIONS, render  # noqa: E402


def accuracy(model: str, paths: list[Path], labels: np.ndarray, **options) -> float:
    import aimodel

    result = aimodel.predict([str(p) for p in paths], model=model, top_k=1, **options)
    by_input = {p.input: p.label for p in result.predictions}
    got = [by_input.get(str(p)) for p in paths]
    return round(float(np.mean([str(g) == str(t) for g, t in zip(got, labels)])), 4)


def main(run: str, npz: str, n: str = "60") -> int:
    from PIL import Image

    n = int(n)
    with np.load(npz) as d:
        x, y = d["x_test"][:n], d["y_test"][:n].astype(int)
    results: dict = {"n": n}
    with tempfile.TemporaryDirectory() as tmp:
        clean = []
        for i in range(n):
            clean.append(Path(tmp) / f"clean_{i:03d}.png")
            Image.fromarray(x[i]).save(clean[-1])
        results["clean"] = accuracy(run, clean, y)
        for name in CONDITIONS:
            paths = []
            for i in range(n):
                paths.append(Path(tmp) / f"{name}_{i:03d}.jpg")
                paths[-1].write_bytes(render(x[i], name, seed=i))
            results[name] = {"default": accuracy(run, paths, y), "no_crop": accuracy(run, paths, y, crop=False)}
    print("bench: " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
