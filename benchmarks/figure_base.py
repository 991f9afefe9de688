"""What every figure module shares: the :class:`Figure` row, the :class:`Context` of one
benchmark invocation, and small helpers (ratios, spreads, the held-out PNGs, figure 3's CNN run,
a run directory's throughput, the measured compute limit that figures 1 and 1c share).

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

    def python(self, script: str, *args: str, name: str, extra_env: dict | None = None) -> Proc:
        return self.runner.run([PYTHON, str(ROOT / "benchmarks" / script), *args], name, extra_env).check()

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


def share(samples_per_s, train_flops, matmul_flops_per_s):
    """Training throughput as a share of the compute limit, rounded to 3 places; None when a number is missing.

    The limit is the measured fp32 matmul rate over the training FLOPs of one sample, so the share is
    ``samples_per_s × train_flops / matmul_flops_per_s`` (docs/speed.md, "The compute path").
    """
    if not samples_per_s or not train_flops or not matmul_flops_per_s:
        return None
    return round(samples_per_s * train_flops / matmul_flops_per_s, 3)


def limit_samples_per_s(train_flops, matmul_flops_per_s):
    """The compute limit in samples/s: the measured fp32 matmul FLOP/s over the training FLOPs per sample."""
    if not train_flops or not matmul_flops_per_s:
        return None
    return round(matmul_flops_per_s / train_flops, 1)


def compute_limit(ctx: Context) -> dict:
    """The FLOP counts of the shipped image configs and this bench run's fp32 matmul rate, measured once.

    Runs ``python -m benchmarks.compute_share --matmul --json FILE`` in one pinned process the first time
    (the fastest 0.5 s window of a 2048² fp32 matmul over 3 s: the fastest fp32 matmul these cores ran in
    this bench run) and keeps its JSON in ``ctx.state["compute_limit"]``, so figures 1 and 1c divide by the
    same measured rate: ``{"configs": {name: counts}, "matmul_flops_per_s": rate}``.
    """
    cached = ctx.state.get("compute_limit")
    if cached is not None:
        return cached
    out = OUT / "compute_share_flops.json"
    out.unlink(missing_ok=True)
    ctx.runner.run([PYTHON, "-m", "benchmarks.compute_share", "--matmul", "--json", str(out)],
                   "compute-limit").check()
    ctx.state["compute_limit"] = json.loads(out.read_text())
    return ctx.state["compute_limit"]


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
