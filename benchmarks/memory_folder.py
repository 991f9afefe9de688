"""Peak memory of training one epoch on an image folder of 2,000 versus 20,000 images.

The larger folder holds the same images ten times over, so any difference in
peak RSS is what the pipeline keeps per image. Each training runs in its own
process (``aimodel train``); peak RSS is that process's ``ru_maxrss``.

    python benchmarks/memory_folder.py                 # 28×28 grayscale PNGs, streamed (cache: none)
    python benchmarks/memory_folder.py --size 64 --rgb --cache-memory

``--cache-memory`` also measures ``dataset.cache: memory`` (every image decoded
into RAM) and ``auto`` (the default), for contrast with streaming.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = 10


def make_folder(root: Path, n: int, base: int, size: int, rgb: bool) -> None:
    """``n`` PNGs in CLASSES class folders, copies of ``base`` distinct images."""
    rng = np.random.default_rng(0)
    source = root.parent / f"_base_{size}_{int(rgb)}"
    if not source.exists():
        source.mkdir(parents=True)
        for i in range(base):
            c = i % CLASSES
            shape = (size, size, 3) if rgb else (size, size)
            pixels = rng.integers(0, 60, shape).astype(np.uint8)
            band = size // CLASSES
            pixels[:, c * band : (c + 1) * band] = 220  # class k: a bright band at column k
            Image.fromarray(pixels).save(source / f"{c}_{i}.png")
    files = sorted(source.iterdir())
    for i in range(n):
        src = files[i % len(files)]
        dst = root / f"class{src.name.split('_')[0]}" / f"{i}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def peak_rss_mb(config: Path, run_dir: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one ``aimodel train`` process."""
    wrapper = textwrap.dedent(f"""
        import resource, subprocess, sys, time
        start = time.perf_counter()
        rc = subprocess.call([{sys.executable!r}, "-m", "aimodel", "train", {str(config)!r},
                              "--run-dir", {str(run_dir)!r}, "--quiet"])
        seconds = time.perf_counter() - start
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds)
        sys.exit(rc)
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"training failed:\n{out.stdout}\n{out.stderr}")
    rss, seconds = out.stdout.strip().splitlines()[-1].split()
    return float(rss), float(seconds)


def measure(work: Path, small: int, large: int, size: int = 28, rgb: bool = False,
            caches=("none",), verbose: bool = False) -> list[dict]:
    """Peak RSS and wall time of one epoch per (folder size, cache setting); folders are made once in ``work``."""
    results = []
    for n in (small, large):
        folder = work / f"images_{n}_{size}_{int(rgb)}"
        if not (folder / ".complete").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            make_folder(folder, n, small, size, rgb)
            (folder / ".complete").touch()
        for cache in caches:
            config = work / f"config_{n}_{cache}.yaml"
            dataset = {"name": "image_folder", "path": str(folder), "test_split": 0.1, "validation_split": 0.1,
                       "cache": cache}
            config.write_text(json.dumps({
                "name": "memory-bench", "seed": 1, "dataset": dataset,
                "model": {"architecture": "cnn", "filters": [8], "dense": [16]},
                "training": {"epochs": 1, "batch_size": 64},
            }))
            run_dir = work / f"run_{n}_{cache}"
            shutil.rmtree(run_dir, ignore_errors=True)
            rss, seconds = peak_rss_mb(config, run_dir)
            results.append({"images": n, "cache": cache, "peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1)})
            if verbose:
                print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--size", type=int, default=28, help="Image side in pixels.")
    parser.add_argument("--rgb", action="store_true", help="Colour images instead of grayscale.")
    parser.add_argument("--cache-memory", action="store_true", help="Also measure dataset.cache: memory and auto.")
    parser.add_argument("--workdir", type=Path, help="Where to put the folders (default: a temporary folder).")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="aimodel-mem-"))
    caches = ["none"] + (["memory", "auto"] if args.cache_memory else [])
    results = measure(work, args.small, args.large, args.size, args.rgb, caches, verbose=True)
    stream = {r["images"]: r["peak_rss_mib"] for r in results if r["cache"] == "none"}
    growth = stream[args.large] / stream[args.small] - 1
    print(f"streaming: {args.large:,} images use {growth * 100:+.1f}% peak RSS versus {args.small:,} "
          f"({stream[args.small]:.0f} → {stream[args.large]:.0f} MiB)")


if __name__ == "__main__":
    main()
