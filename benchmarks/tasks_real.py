"""Regression, forecasting and multilabel on real data, against classical baselines on the same split.

- **Regression** (figure 14a): ``configs/diabetes_regression.yaml`` on scikit-learn's diabetes table
  (``examples/diabetes.csv``, 442 rows): test MAE against ridge regression (RidgeCV) and gradient boosting
  (HistGradientBoostingRegressor), both fitted on the same training rows (``baseline.json``), and a ridge
  regression fitted on training + validation rows (all the rows the model saw; the stricter baseline).
- **Forecasting** (figure 14b): ``configs/co2_forecast.yaml`` on the Mauna Loa weekly CO2 series that
  statsmodels ships (``examples/co2_weekly.csv``): test MAE over the 4-week horizon against persistence
  and seasonal naive (evaluate's own baselines) and a linear autoregression (least squares over the same
  window, fitted on the training and validation windows).
- **Multilabel** (figure 14c): ``configs/digit_tags_multilabel.yaml`` on scikit-learn's 8×8 digits with tags
  derived from the digit (``examples/digit_tags.csv``): test micro F1 against one-vs-rest logistic
  regression on the same training rows.

    PYTHONPATH=. python -m benchmarks.tasks_real --seeds 1,2,3

In ``make bench`` this is group ``tasks``: the same command, run once, pinned like the other groups,
seeds 1 to ``--reps``. Targets: regression beats ridge regression (MAE); the forecast beats persistence by
at least 5% MAE; multilabel is reported beside its baseline (no target).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"regression": ROOT / "configs" / "diabetes_regression.yaml",
           "forecast": ROOT / "configs" / "co2_forecast.yaml",
           "multilabel": ROOT / "configs" / "digit_tags_multilabel.yaml"}
#: the forecast must beat persistence's MAE by this share
FORECAST_GAIN = 0.05


def _train_and_evaluate(name: str, seed: int, folder: Path):
    from aimodel.config import load_config
    from aimodel.evaluation.evaluate import evaluate
    from aimodel.training.runner import train

    cfg = load_config(CONFIGS[name], [f"seed={seed}"])
    t0 = time.perf_counter()
    result = train(cfg, run_dir=folder / f"{name}-{seed}")
    report = evaluate(result.run_dir, out=folder / f"{name}-{seed}-evaluation")
    return cfg, result, report, round(time.perf_counter() - t0, 1)


def _columns(split) -> "object":
    import numpy as np

    return np.column_stack([np.asarray(split.x[c], np.float64) for c in split.x])


def regression(seed: int, folder: Path) -> dict:
    import numpy as np
    from sklearn.linear_model import RidgeCV

    from aimodel.data import load_data

    cfg, result, report, seconds = _train_and_evaluate("regression", seed, folder)
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)  # the run's own split (same seed)
    seen = [bundle.train] + ([bundle.val] if bundle.val is not None else [])
    x, y = np.concatenate([_columns(s) for s in seen]), np.concatenate([s.y[:, 0] for s in seen])
    ridge_all = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, y)
    ridge_all_mae = float(np.mean(np.abs(ridge_all.predict(_columns(bundle.test)) - bundle.test.y[:, 0])))
    b = report["baselines"]
    return {"model": report["mae"], "model_rmse": report["rmse"], "model_r2": report["r2"],
            "ridge": b["ridge"]["mae"], "ridge_r2": b["ridge"]["r2"],
            "gradient_boosting": b["gradient_boosting"]["mae"], "mean": b["mean"]["mae"],
            "ridge_train_val": round(ridge_all_mae, 4), "epochs": result.epochs, "seconds": seconds}


def forecast(seed: int, folder: Path) -> dict:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from aimodel.data import load_data

    cfg, result, report, seconds = _train_and_evaluate("forecast", seed, folder)
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    seen = [bundle.train] + ([bundle.val] if bundle.val is not None else [])

    def flat(split):
        return np.asarray(split.x, np.float64).reshape(len(split.x), -1)

    ar = LinearRegression().fit(np.concatenate([flat(s) for s in seen]), np.concatenate([s.y for s in seen]))
    ar_mae = float(np.mean(np.abs(ar.predict(flat(bundle.test)) - bundle.test.y)))
    b = report["baselines"]
    return {"model": report["mae"], "model_rmse": report["rmse"], "persistence": b["persistence"]["mae"],
            "seasonal_naive": b.get("seasonal_naive", {}).get("mae"), "linear_ar": round(ar_mae, 4),
            "windows": report["samples"], "epochs": result.epochs, "seconds": seconds}


def multilabel(seed: int, folder: Path) -> dict:
    cfg, result, report, seconds = _train_and_evaluate("multilabel", seed, folder)
    b = report["baselines"]
    return {"model": report["micro_f1"], "model_macro_f1": report["macro_f1"],
            "model_subset_accuracy": report["subset_accuracy"],
            "logistic_regression": b["logistic_regression"]["micro_f1"],
            "logistic_regression_subset_accuracy": b["logistic_regression"]["subset_accuracy"],
            "epochs": result.epochs, "seconds": seconds}


TASKS = {"regression": regression, "forecast": forecast, "multilabel": multilabel}
PEER = {"regression": "ridge", "forecast": "persistence", "multilabel": "logistic_regression"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks_real", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--only", default=",".join(TASKS), help="comma-separated: regression,forecast,multilabel")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            runs = [TASKS[name](seed, Path(tmp)) for seed in seeds]
            results[name] = runs
            means = {k: round(statistics.mean(r[k] for r in runs), 4) for k in runs[0]
                     if all(isinstance(r[k], (int, float)) for r in runs)}
            print(f"{name}: " + ", ".join(f"{k} {v:g}" for k, v in means.items()) + f" (seeds {args.seeds}; "
                  f"model/{PEER[name]} per seed: " + ", ".join(f"{r['model']:.4g}/{r[PEER[name]]:.4g}" for r in runs)
                  + ")", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def figures(results: dict, seeds: list[int]) -> list:
    """The rows of ``make bench`` from ``main``'s JSON: means over the seeds."""
    from benchmarks.figure_base import Figure, spread

    def mean(runs, key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.mean(values), 4) if values else None

    rows = []
    command = f"`python -m benchmarks.tasks_real --seeds {','.join(map(str, seeds))}`"
    if "regression" in results:
        runs = results["regression"]
        model, ridge = mean(runs, "model"), mean(runs, "ridge")
        rows.append(Figure(
            "14a", "Test MAE of configs/diabetes_regression.yaml vs ridge regression, same split: scikit-learn's "
            "diabetes (442 rows, 10 columns)", "lower MAE than ridge regression", model, ridge, "MAE", None,
            met=model < ridge,
            details={k: mean(runs, k) for k in ("model_rmse", "model_r2", "ridge_r2", "gradient_boosting", "mean",
                                                "ridge_train_val")}
            | {"seeds": seeds, "per_seed": [[r["model"], r["ridge"]] for r in runs],
               "spread": spread([r["model"] for r in runs]), "epochs": [r["epochs"] for r in runs]},
            note="'peer' is the ridge regression `aimodel train` fits on the same training rows (baseline.json); "
                 f"ridge_train_val also saw the validation rows. Means over seeds; {command}."))
    if "forecast" in results:
        runs = results["forecast"]
        model, persistence = mean(runs, "model"), mean(runs, "persistence")
        rows.append(Figure(
            "14b", "Test MAE of configs/co2_forecast.yaml (4 weeks ahead) vs persistence, same windows: Mauna Loa "
            "weekly CO2 (statsmodels)", f"at least {FORECAST_GAIN:.0%} lower MAE than persistence", model,
            persistence, "MAE (ppm)", round(model / persistence, 3) if persistence else None,
            met=model <= (1 - FORECAST_GAIN) * persistence,
            details={k: mean(runs, k) for k in ("model_rmse", "seasonal_naive", "linear_ar")}
            | {"seeds": seeds, "windows": runs[0]["windows"], "per_seed": [[r["model"], r["persistence"]] for r in runs],
               "spread": spread([r["model"] for r in runs]), "epochs": [r["epochs"] for r in runs]},
            note="'peer' is persistence (the last observed value), scored by `aimodel evaluate` on the same test "
                 f"windows; linear_ar is least squares over the same window. Means over seeds; {command}."))
    if "multilabel" in results:
        runs = results["multilabel"]
        rows.append(Figure(
            "14c", "Test micro F1 of configs/digit_tags_multilabel.yaml vs one-vs-rest logistic regression, same "
            "split: scikit-learn's 8×8 digits tagged even/prime/round/big", "reported beside the baseline",
            mean(runs, "model"), mean(runs, "logistic_regression"), "micro F1", None, met=None,
            details={k: mean(runs, k) for k in ("model_macro_f1", "model_subset_accuracy",
                                                "logistic_regression_subset_accuracy")}
            | {"seeds": seeds, "per_seed": [[r["model"], r["logistic_regression"]] for r in runs]},
            note=f"'peer' is the logistic regression `aimodel train` fits on the same rows; {command}."))
    return rows


def figure(ctx) -> list:
    """Group ``tasks`` of ``make bench``: ``main`` in one pinned process, seeds 1 to ``ctx.reps``."""
    from benchmarks.figure_base import seeded_module

    return figures(*seeded_module(ctx, "tasks_real", "tasks-real"))


if __name__ == "__main__":
    raise SystemExit(main())
