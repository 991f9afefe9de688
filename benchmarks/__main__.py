"""``python -m benchmarks``: measure aimodel against plain Keras and write benchmarks/results.md."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from benchmarks import data, report
from benchmarks.figure_base import Context, Figure
from benchmarks.figures import FIGURES
from benchmarks.harness import OUT, ROOT, Runner, load_average, machine


#: Where a run of some groups writes its report unless --out says: benchmarks/results.md is the last full run's.
PARTIAL = OUT / "partial"


def results_folder(groups: list[str]) -> Path:
    """benchmarks/ for a run of every group, PARTIAL for any other."""
    return ROOT / "benchmarks" if set(groups) >= set(FIGURES) else PARTIAL


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated groups: {', '.join(FIGURES)}")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each comparison (default 3)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the seed-model runs (default 10)")
    parser.add_argument("--cnn-epochs", type=int, default=None, help="override configs/mnist_cnn.yaml's epochs")
    parser.add_argument("--photos", type=int, default=200, help="digits per photo condition, figure 12 (default 200)")
    parser.add_argument("--cores", type=int, default=2, help="pin every run to this many CPUs (0 = all; default 2)")
    parser.add_argument("--out", default=None,
                        help="folder for results.md and results.json (default: benchmarks/ for a run of every group, "
                             f"{PARTIAL.relative_to(ROOT)}/ for an --only run, which must not replace the full run's)")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in FIGURES]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {', '.join(FIGURES)}")

    started, t0, load_start = time.strftime("%Y-%m-%d %H:%M %Z"), time.perf_counter(), load_average()
    npz, described = data.prepare()
    runner = Runner(args.cores)
    info = machine(runner.cpus)
    ctx = Context(runner, npz, args.reps, args.epochs, args.cnn_epochs, args.photos)
    figures: list[Figure] = []
    for group in groups:
        print(f"[bench] {group} ...", flush=True)
        g0 = time.perf_counter()
        try:
            rows = FIGURES[group](ctx)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            rows = [Figure(group, f"{group} (failed)", "—", status=f"failed: {str(exc).splitlines()[0][:200]}")]
        for r in rows:
            print(f"[bench]   {r.id}: aimodel={r.aimodel} peer={r.peer} ratio={r.ratio} met={r.met} {r.status}",
                  flush=True)
        print(f"[bench] {group} took {time.perf_counter() - g0:.0f} s", flush=True)
        figures += rows
    meta = {
        "started": started, "seconds": round(time.perf_counter() - t0, 1),
        "load_start": load_start, "load_end": load_average(), "machine": info, "data": described,
        "settings": {"reps": args.reps, "epochs": args.epochs, "cnn_epochs": args.cnn_epochs, "photos": args.photos,
                     "groups": groups},
    }
    out = Path(args.out) if args.out else results_folder(groups)
    out.mkdir(parents=True, exist_ok=True)
    md, js = report.write(figures, meta, out)
    print(f"[bench] wrote {md} and {js} in {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
