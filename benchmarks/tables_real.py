"""aimodel's tabular template against a logistic regression on real public tables, over several seeds.

The tables are the ones scikit-learn bundles (no download): breast cancer (569 rows, 30 numeric
columns, 2 classes), wine (178 rows, 13 columns, 3 classes) and diabetes as a classification
(442 rows, 10 columns; "high" when the disease progression score is above the median). Each is
written to a CSV file, trained with configs/iris_mlp.yaml's model and training sections (only the
dataset differs), and scored on its test split beside the logistic-regression baseline that
``aimodel train`` fits on the same split (baseline.json).

    PYTHONPATH=. python -m benchmarks.tables_real --seeds 1,2,3
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
                  f"(difference {100 * (model - lr):+.1f} points; seeds {args.seeds}; per seed: "
                  + ", ".join(f"{100 * r['model']:.1f}/{100 * r['lr']:.1f} in {r['epochs']} epochs" for r in runs)
                  + ")", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
