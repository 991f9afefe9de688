"""aimodel's tabular template against a logistic regression on real public tables, over several seeds.

The tables are the ones scikit-learn bundles (no download): breast cancer (569 rows, 30 numeric
columns, 2 classes), wine (178 rows, 13 columns, 3 classes) and diabetes as a classification
(442 rows, 10 columns; "high" when the disease progression score is above the median). Each is
written to a CSV file, trained with configs/iris_mlp.yaml's model and training sections (only the
dataset differs), and scored on its test split beside the logistic-regression baseline that
``aimodel train`` fits on the same split (baseline.json).

    PYTHONPATH=. python -m benchmarks.tables_real --seeds 1,2,3

In ``make bench`` this is group ``tables`` (figures 13a–13c): the same command, run once, pinned
like the other groups, with seeds 1 to ``--reps``; one row per table, the logistic regression in
the peer column. Target: the template within 1 point of the baseline or better.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "configs" / "iris_mlp.yaml"
#: the figure ids and titles of the three tables in ``make bench``
ROWS = {"breast_cancer": ("13a", "breast cancer (569 rows, 30 columns, 2 classes)"),
        "wine": ("13b", "wine (178 rows, 13 columns, 3 classes)"),
        "diabetes_high": ("13c", "diabetes, progression above the median (442 rows, 10 columns)")}
#: allowed shortfall of the template's mean test accuracy below the baseline's, in points
TOLERANCE = 1.0


def tables(folder: Path) -> dict[str, Path]:
    """The three tables as CSV files in ``folder`` (header row, label column ``target``)."""
    import numpy as np
    from sklearn import datasets

    out = {}
    diabetes = datasets.load_diabetes()
    high = (diabetes.target > np.median(diabetes.target)).astype(int)
    for name, (x, y, columns) in {
        "breast_cancer": (lambda d: (d.data, d.target, list(d.feature_names)))(datasets.load_breast_cancer()),
        "wine": (lambda d: (d.data, d.target, list(d.feature_names)))(datasets.load_wine()),
        "diabetes_high": (diabetes.data, high, list(diabetes.feature_names)),
    }.items():
        path = folder / f"{name}.csv"
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([c.replace(" ", "_") for c in columns] + ["target"])
            for row, label in zip(x, y):
                writer.writerow([f"{v:.6g}" for v in row] + [int(label)])
        out[name] = path
    return out


def run_one(path: Path, seed: int, folder: Path) -> dict:
    import yaml

    from aimodel.config import load_config
    from aimodel.training.runner import train

    cfg = yaml.safe_load(TEMPLATE.read_text())
    cfg.update(name=path.stem, seed=seed)
    cfg["dataset"] = {"name": "csv", "path": str(path), "label": "target", "test_split": 0.2,
                      "validation_split": cfg["dataset"].get("validation_split", 0.2)}
    config = folder / f"{path.stem}-{seed}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    result = train(load_config(config), run_dir=folder / f"{path.stem}-{seed}")
    record = result.baseline
    return {"model": record["model"]["accuracy"], "lr": record["baselines"]["logistic_regression"]["accuracy"],
            "majority": record["baselines"]["majority"]["accuracy"], "epochs": result.epochs,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tables_real", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in tables(folder).items():
            runs = [run_one(path, seed, folder) for seed in seeds]
            results[name] = runs
            model, lr = statistics.mean(r["model"] for r in runs), statistics.mean(r["lr"] for r in runs)
            print(f"{name:14s} model {100 * model:5.1f}%  logistic regression {100 * lr:5.1f}%  "
                  f"(difference {round(100 * (model - lr), 1) + 0.0:+.1f} points; seeds {args.seeds}; per seed: "
                  + ", ".join(f"{100 * r['model']:.1f}/{100 * r['lr']:.1f} in {r['epochs']} epochs" for r in runs)
                  + ")", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def figures(results: dict, seeds: list[int]) -> list:
    """One :class:`~benchmarks.figure_base.Figure` per table from ``main``'s JSON: the means over the seeds."""
    from benchmarks.figure_base import Figure, spread

    rows = []
    for name, runs in results.items():
        fid, what = ROWS[name]
        model, lr = (round(statistics.mean(r[k] for r in runs), 4) for k in ("model", "lr"))
        diff = round(100 * (model - lr), 2)
        rows.append(Figure(
            fid, f"Test accuracy of configs/iris_mlp.yaml vs logistic regression, same split: {what}",
            f"within {TOLERANCE:g} point of the baseline or better", model, lr, "accuracy", None,
            met=diff >= -TOLERANCE,
            details={"difference_points": diff, "seeds": seeds,
                     "per_seed": [[r["model"], r["lr"]] for r in runs], "spread": spread([r["model"] for r in runs]),
                     "majority": round(statistics.mean(r["majority"] for r in runs), 4),
                     "epochs": [r["epochs"] for r in runs], "seconds": [r["seconds"] for r in runs]},
            note=f"'peer' is the logistic regression `aimodel train` fits on the same preprocessed columns and the "
                 f"same 80/20 split (baseline.json); both are means over seeds {', '.join(map(str, seeds))}. "
                 "scikit-learn's bundled table, `python -m benchmarks.tables_real`."))
    return rows


def figure(ctx) -> list:
    """Group ``tables`` of ``make bench``: ``main`` in one pinned process, seeds 1 to ``ctx.reps``."""
    from benchmarks.figure_base import seeded_module

    return figures(*seeded_module(ctx, "tables_real", "tables-real"))


if __name__ == "__main__":
    raise SystemExit(main())
