"""What every figure module shares: the :class:`Figure` row, the :class:`Context` of one
benchmark invocation, and small helpers (ratios, spreads, the held-out PNGs, figure 3's CNN run,
a run directory's throughput).

It sits below the figure modules (:mod:`benchmarks.figures`, :mod:`benchmarks.export_figures`,
:mod:`benchmarks.photo_bench`), so none of them imports another to reach these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.harness import AIMODEL, OUT, PYTHON, ROOT, Proc, Runner, median

CNN_CONFIG = "configs/mnist_cnn.yaml"
#: fp32 peak of the 2 AVX-512 cores the figures run on, FLOP/s (docs/speed.md, "The compute path")
PEAK_FLOPS = 190e9
#: the seed model's training FLOPs per sample as counted by hand (issue 16); figure 1c measures them
SEED_HAND_FLOPS = 5.3e6


@dataclass
class Figure:
    """One row of the results table."""

    id: str
    title: str
    target: str
    aimodel: Optional[float] = None
    peer: Optional[float] = None
    unit: str = ""
    ratio: Optional[float] = None
    met: Optional[bool] = None  # None: not measured
    status: str = "measured"
    details: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Context:
    runner: Runner
    npz: Path
    reps: int
    epochs: int
    cnn_epochs: Optional[int]
    photos: int = 200  # digits per condition in figure 12
    state: dict = field(default_factory=dict)

    def aimodel(self, *args: str, name: str) -> Proc:
        return self.runner.run([AIMODEL, *args], name).check()

    def python(self, script: str, *args: str, name: str) -> Proc:
        return self.runner.run([PYTHON, str(ROOT / "benchmarks" / script), *args], name).check()

    def run_dir(self, name: str) -> Path:
        path = OUT / "runs" / name
        if path.exists():
            import shutil

            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def test_accuracy(self, model_path: Path) -> float:
        """aimodel's own evaluation of a checkpoint on its test split (not timed)."""
        out = self.aimodel("evaluate", str(model_path), "--json", name="evaluate").output
        report = json.loads(out[out.index("{"):])
        return float(report["accuracy"])


def ratio(a, b):
    """``a / b`` rounded to 3 places, or None when either is missing (or ``b`` is 0)."""
    return round(a / b, 3) if a is not None and b else None


def spread(values):
    """``[min, max]`` rounded to 4 places, or None for no values."""
    return [round(min(values), 4), round(max(values), 4)] if values else None


def pngs(ctx: Context, n: int) -> Path:
    """The first ``n`` held-out test images as PNG files named ``<index>_<label>.png``."""
    from PIL import Image

    folder = OUT / f"png{n}"
    if len(list(folder.glob("*.png"))) != n:
        folder.mkdir(parents=True, exist_ok=True)
        with np.load(ctx.npz) as d:
            x, y = d["x_test"][:n], d["y_test"][:n]
        for i in range(n):
            Image.fromarray(x[i]).save(folder / f"{i:04d}_{int(y[i])}.png")
    return folder


def cnn_run(ctx: Context) -> Path:
    """The run of figure 3, or a new one of configs/mnist_cnn.yaml on the benchmark data."""
    run = ctx.state.get("cnn_run")
    if run and (Path(run) / "best.keras").is_file():
        return Path(run)
    run = ctx.run_dir("cnn-export")
    args = ["train", CNN_CONFIG, "--set", f"dataset.path={ctx.npz}", "--run-dir", str(run)]
    if ctx.cnn_epochs:
        args += ["--set", f"training.epochs={ctx.cnn_epochs}"]
    ctx.aimodel(*args, name="aimodel-cnn-export")
    ctx.state["cnn_run"] = run
    return run


def seeded_module(ctx: Context, module: str, label: str) -> tuple[dict, list[int]]:
    """Run ``python -m benchmarks.<module> --seeds 1..reps --json FILE`` in one pinned process; (its JSON, seeds)."""
    seeds = list(range(1, max(ctx.reps, 1) + 1))
    out = OUT / f"{module}.json"
    out.unlink(missing_ok=True)
    ctx.runner.run([PYTHON, "-m", f"benchmarks.{module}", "--seeds", ",".join(map(str, seeds)), "--json", str(out)],
                   label).check()
    return json.loads(out.read_text()), seeds


def run_figures(run: Path, p: Proc) -> dict:
    """Throughput and epoch times of one aimodel run directory, and its start-up before epoch 1."""
    import csv
    import re

    summary = json.loads((run / "summary.json").read_text())
    with open(run / "metrics.csv", newline="") as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    loop = summary.get("wall_seconds") or 0.0
    ready = re.search(r"images ready in ([0-9.]+) s", (run / "train.log").read_text())
    return {"samples_per_s": summary["samples_per_second"], "epoch_seconds": [round(x, 3) for x in seconds],
            "first_epoch_s": round(seconds[0], 3), "steady_epoch_s": round(median(seconds[1:]) or seconds[0], 3),
            "startup_s": round(p.wall - loop, 2), **({"cache_fill_s": float(ready.group(1))} if ready else {})}
