"""dataset.anchor: last against none on a trending series, beside persistence, seasonal naive and a linear AR.

The series is the Mauna Loa weekly CO2 record in examples/co2_weekly.csv (2,284 weeks, 59 empty cells,
a rising trend and a yearly cycle): window 52, horizon 4, season 52, fill interpolate, test_split 0.2,
validation_split 0.1. Its test part lies above the training range, so a model that standardizes its
inputs and targets with the training statistics (anchor: none) is asked to extrapolate. Each run is
``aimodel train`` then ``aimodel evaluate --json`` (test MAE in ppm, with the persistence and seasonal
naive baselines on the same windows), for each architecture (rnn: one LSTM of 32 units; mlp: one dense
layer of 64), each anchor and each seed; at most ``--epochs`` epochs with early stopping on val_loss
(patience ``--patience``, best epoch kept). The linear AR is scikit-learn's LinearRegression on the
flattened training and validation windows (inputs as given, no scaling) → the horizon targets.

    PYTHONPATH=. python -m benchmarks.forecast_anchor --seeds 1,2,3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "co2_weekly.csv"
MODELS = {"rnn": {"architecture": "rnn", "units": [32]}, "mlp": {"architecture": "mlp", "units": [64]}}


def config(data: Path, arch: str, anchor: str, seed: int, epochs: int, patience: int) -> dict:
    return {"name": f"co2_{arch}_{anchor}_{seed}", "seed": seed,
            "dataset": {"name": "timeseries", "path": str(data), "time_column": "date", "target": "co2",
                        "window": 52, "horizon": 4, "season": 52, "fill": "interpolate", "anchor": anchor,
                        "test_split": 0.2, "validation_split": 0.1},
            "model": dict(MODELS[arch]),
            "training": {"epochs": epochs, "batch_size": 32, "tensorboard": False,
                         "early_stopping": {"patience": patience}}}


def aimodel(*args: str) -> str:
    """Run the CLI in a fresh process (as a user would); its stdout."""
    done = subprocess.run([sys.executable, "-m", "aimodel", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"aimodel {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def run_one(cfg: dict, folder: Path) -> dict:
    import yaml

    path = folder / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = folder / cfg["name"]
    t0 = time.perf_counter()
    aimodel("train", str(path), "--run-dir", str(run), "--quiet")
    seconds = time.perf_counter() - t0
    report = json.loads(aimodel("evaluate", str(run), "--json"))
    summary = json.loads((run / "summary.json").read_text())
    return {"mae": report["mae"], "rmse": report["rmse"],
            "baselines": {k: v["mae"] for k, v in report["baselines"].items()},
            "epochs": summary.get("epochs_completed"), "best_epoch": summary.get("best_epoch"), "train_seconds": round(seconds, 1)}


def linear_ar(cfg: dict, folder: Path) -> float:
    """Test MAE of a least-squares linear autoregression on the same windows (seed-independent)."""
    import numpy as np
    import yaml
    from sklearn.linear_model import LinearRegression

    from aimodel.config import load_config
    from aimodel.data import load_data

    path = folder / "linear_ar.yaml"
    path.write_text(yaml.safe_dump(cfg))
    loaded = load_config(path)
    bundle = load_data(loaded.dataset, loaded.seed, loaded.task)
    x = np.concatenate([bundle.train.x, bundle.val.x]).reshape(-1, np.prod(bundle.train.x.shape[1:]))
    y = np.concatenate([bundle.train.y, bundle.val.y])
    fit = LinearRegression().fit(x.astype(np.float64), y.astype(np.float64))
    pred = fit.predict(bundle.test.x.reshape(len(bundle.test.x), -1).astype(np.float64))
    return round(float(np.mean(np.abs(pred - bundle.test.y))), 6)


def summarize(results: dict, ar: float) -> str:
    """A markdown table: mean test MAE (min–max over the seeds) per architecture and anchor, then the baselines."""
    lines = ["| model | anchor | test MAE (ppm), mean | min – max | per seed | epochs |", "|---|---|---|---|---|---|"]
    baselines = None
    for key, runs in results.items():
        arch, anchor = key.split("/")
        maes = [r["mae"] for r in runs]
        lines.append(f"| {arch} | {anchor} | {statistics.mean(maes):.3f} | {min(maes):.3f} – {max(maes):.3f} | "
                     + ", ".join(f"{m:.3f}" for m in maes) + " | " + ", ".join(str(r["epochs"]) for r in runs) + " |")
        baselines = runs[0]["baselines"]
    for name, mae in (baselines or {}).items():
        lines.append(f"| {name.replace('_', ' ')} | – | {mae:.3f} | | | |")
    lines.append(f"| linear AR (LinearRegression) | – | {ar:.3f} | | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.forecast_anchor", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--archs", default="rnn,mlp", help="comma-separated: rnn, mlp (default both)")
    parser.add_argument("--anchors", default="last,none", help="comma-separated: last, none (default both)")
    parser.add_argument("--epochs", type=int, default=60, help="most epochs per run (default 60)")
    parser.add_argument("--patience", type=int, default=10, help="early stopping patience (default 10)")
    parser.add_argument("--data", type=Path, default=DATA, help="the series (default examples/co2_weekly.csv)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ar = linear_ar(config(args.data.resolve(), "mlp", "none", seeds[0], 1, 1), folder)
        print(f"linear AR test MAE {ar:.3f}", flush=True)
        for arch in args.archs.split(","):
            for anchor in args.anchors.split(","):
                for seed in seeds:
                    cfg = config(args.data.resolve(), arch, anchor, seed, args.epochs, args.patience)
                    r = run_one(cfg, folder)
                    results.setdefault(f"{arch}/{anchor}", []).append(r)
                    print(f"{arch} anchor {anchor} seed {seed}: test MAE {r['mae']:.3f} ({r['epochs']} epochs, "
                          f"{r['train_seconds']} s); baselines {r['baselines']}", flush=True)
    print(summarize(results, ar))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "linear_ar": ar, "seeds": seeds}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
