"""Batched predict versus calling the model once per image, on 1,000 generated PNGs (slow: excluded by default).

Run the measurement and print the figures:

    .venv/bin/python -m tests.test_predict_speed

or as a check: ``.venv/bin/python -m pytest -m slow tests/test_predict_speed.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

N_IMAGES = 1000
SIZE = 32


def _make_images(folder: Path, n: int = N_IMAGES, seed: int = 0) -> list[Path]:
    """RGB PNGs, 32×32: a bright square in one of four corners on noise (the class)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    h = SIZE // 2
    for i in range(n):
        img = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
        r, c = divmod(i % 4, 2)
        img[r * h : r * h + h, c * h : c * h + h] = rng.integers(150, 255, 3)
        path = folder / f"img_{i:04d}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def _train_small_model(root: Path) -> Path:
    """A small CNN (one 16-filter conv block, dense 32) trained for one epoch on 400 such images."""
    from click.testing import CliRunner

    from aimodel.cli import main
    from tests.conftest import write_config

    from PIL import Image

    paths = _make_images(root / "train_png", 400, seed=1)
    x = np.stack([np.asarray(Image.open(p)) for p in paths])
    y = np.arange(400) % 4
    np.savez(root / "train.npz", x_train=x[:320], y_train=y[:320], x_test=x[320:], y_test=y[320:])
    config = write_config(root / "speed.yaml", {
        "name": "speed", "seed": 0,
        "dataset": {"name": "npz", "path": str(root / "train.npz"), "class_names": ["tl", "tr", "bl", "br"]},
        "model": {"architecture": "cnn", "filters": [16], "dense": [32]},
        "training": {"epochs": 1, "batch_size": 32},
    })
    result = CliRunner().invoke(main, ["train", str(config), "--run-dir", str(root / "run"), "-q"])
    assert result.exit_code == 0, result.output
    return root / "run"


def measure(root: Path) -> dict:
    """Seconds to predict N_IMAGES files: batched (aimodel) versus one model call per image."""
    from aimodel.inference.checkpoint import load_model
    from aimodel.inference.images import prepare_image
    from aimodel.inference.predict import Predictor

    run = _train_small_model(root)
    files = _make_images(root / "predict_png", N_IMAGES)
    predictor = Predictor(run)
    predictor.predict(files[:8])  # warm-up: graph tracing, file cache

    start = time.perf_counter()
    batched = predictor.predict([root / "predict_png"], batch_size=64)
    t_batched = time.perf_counter() - start

    # The loop people write: read one image, model.predict it, next.
    model, spec = load_model(run / "best.keras"), predictor.spec
    model.predict(prepare_image(files[0], spec)[None], verbose=0)
    start = time.perf_counter()
    loop_labels = []
    for f in files:
        probs = model.predict(prepare_image(f, spec)[None], verbose=0)
        loop_labels.append(spec.class_names[int(probs.argmax())])
    t_loop = time.perf_counter() - start

    start = time.perf_counter()
    single = predictor.predict([root / "predict_png"], batch_size=1)
    t_single = time.perf_counter() - start

    labels = [p.label for p in batched.predictions]
    assert batched.ok and len(labels) == N_IMAGES
    assert labels == loop_labels == [p.label for p in single.predictions]
    return {"images": N_IMAGES, "batched_s": t_batched, "loop_model_predict_s": t_loop,
            "batch_size_1_s": t_single, "speedup_vs_loop": t_loop / t_batched,
            "speedup_vs_batch_size_1": t_single / t_batched}


@pytest.mark.slow
def test_batched_predict_is_at_least_20x_faster_than_a_per_image_loop(tmp_path):
    figures = measure(tmp_path)
    assert figures["speedup_vs_loop"] >= 20, figures


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(Path(tmp))
    n = figures["images"]
    print(f"{n} PNGs 32×32 RGB, small CNN, {os.cpu_count()} CPU cores")
    print(f"  aimodel predict, batches of 64:          {figures['batched_s']:.2f} s ({n / figures['batched_s']:,.0f} images/s)")
    print(f"  loop, model.predict once per image:      {figures['loop_model_predict_s']:.2f} s "
          f"→ batched is {figures['speedup_vs_loop']:.0f}× faster")
    print(f"  aimodel predict --batch-size 1:          {figures['batch_size_1_s']:.2f} s "
          f"→ batched is {figures['speedup_vs_batch_size_1']:.1f}× faster")
