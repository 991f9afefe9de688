"""``aimodel cv``: k-fold cross-validation, each fold an ordinary aimodel run.

The training and validation splits are pooled and cut into K folds (classification:
scikit-learn's ``StratifiedKFold``; regression and multilabel: ``KFold``; both
shuffled with the config's seed; a source whose samples are ordered in time
supplies its own folds through :data:`FOLD_MAKERS`); fold k
trains on the other K-1 folds, validates on fold k, and its final model is
scored once on the untouched test split. The result is each metric's mean and
standard deviation over folds, in ``cv.json`` beside the fold runs. A series
(``dataset.name: timeseries``) gets expanding-window folds in time order instead
(:func:`aimodel.data.series.expanding_folds`). A fold that cannot train (NaN
loss, out of memory) is recorded as failed with its reason and left out of the
statistics; only when every fold fails is it an error::

    runs/<name>/cv-<n>/fold-1/ ... fold-K/    aimodel run directories
    runs/<name>/cv-<n>/folds.json             the sample positions (or files) of each fold
    runs/<name>/cv-<n>/cv.json                per-fold metrics, mean and standard deviation
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from aimodel.config import Config, dump_config
from aimodel.errors import ConfigError, TrainingError
from aimodel.fileio import atomic_write_json, atomic_write_text
from aimodel.registry import Registry
from aimodel.search.process import failure_reason, one_process
from aimodel.training.rundir import claim_dir

log = logging.getLogger(__name__)

#: classification's metrics in cv.json (each task's: :func:`metrics_for`)
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss")

#: dataset name -> ``maker(pool, folds, seed) -> [(train positions, validation positions), ...]``: a source
#: whose samples have an order that folds must keep (a time series: expanding windows) registers its own;
#: every other source is cut by :func:`fold_indices` (classification) or :func:`kfold_indices`
FOLD_MAKERS: Registry[Callable] = Registry("cv fold maker")


def metrics_for(task: str) -> tuple[str, ...]:
    """The metrics cv.json reports for ``task``: validation and test figures of the task's metrics and loss."""
    from aimodel.tasks import task_of

    if task_of(task).name == "classification":
        return METRICS
    names = task_of(task).metrics + ("loss",)
    return tuple(f"val_{n}" for n in names) + tuple(f"test_{n}" for n in names)


@dataclass
class CvResult:
    cv_dir: Path
    folds: list[dict]
    summary: dict  # metric -> {"mean", "std"}
    seconds: float


def fold_indices(y, folds: int, seed: int) -> list[tuple["object", "object"]]:
    """(train positions, validation positions) of each stratified fold.

    Raises:
        ConfigError: fewer than 2 folds, or more folds than the smallest class has samples.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ConfigError(f"--folds: cross-validation needs at least 2 folds, got {folds}")
    counts = np.bincount(np.asarray(y))
    smallest = int(counts[counts > 0].min())
    if folds > smallest:
        raise ConfigError(f"--folds {folds}: the smallest class has only {smallest} training+validation samples; "
                          f"use at most --folds {smallest}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def kfold_indices(samples: int, folds: int, seed: int) -> list[tuple["object", "object"]]:
    """(train positions, validation positions) of each plain k-fold split (regression, multilabel), shuffled
    with ``seed``.

    Raises:
        ConfigError: fewer than 2 folds, or more folds than samples.
    """
    import numpy as np
    from sklearn.model_selection import KFold

    if folds < 2:
        raise ConfigError(f"--folds: cross-validation needs at least 2 folds, got {folds}")
    if folds > samples:
        raise ConfigError(f"--folds {folds}: only {samples} training+validation samples; use at most --folds {samples}")
    return list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(samples)))


def folds_for(cfg: Config, pool, folds: int) -> list[tuple["object", "object"]]:
    """The folds of ``pool`` (training + validation samples): the source's own maker (:data:`FOLD_MAKERS`),
    else stratified for classification and plain k-fold for the other tasks."""
    if cfg.dataset.name in FOLD_MAKERS:
        return FOLD_MAKERS.get(cfg.dataset.name)(pool, folds, cfg.seed)
    if cfg.task == "classification":
        return fold_indices(pool.y, folds, cfg.seed)
    return kfold_indices(len(pool), folds, cfg.seed)


def mean_std(values: list[float]) -> dict:
    """Mean and (population, as scikit-learn's cross_validate reports) standard deviation."""
    import numpy as np

    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if not len(arr):
        return {"mean": None, "std": None}
    return {"mean": round(float(arr.mean()), 6), "std": round(float(arr.std()), 6)}


def cross_validate(cfg: Config, folds: int, *, runs_root: str | Path = "runs", run_dir: str | Path | None = None,
                   on_fold: Optional[Callable[[dict], None]] = None) -> CvResult:
    """Train one run per fold and summarize; see the module docstring."""
    from aimodel.data import load_data
    from aimodel.data.base import DataBundle, concat_splits
    from aimodel.evaluation.evaluate import score_test_split
    from aimodel.training.runner import train

    cfg = one_process(cfg, "cv")
    start = time.perf_counter()
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    if bundle.val is None:
        raise ConfigError("dataset.validation_split is 0: cross-validation folds need validation data; "
                          "set dataset.validation_split (e.g. 0.1)")
    pool = concat_splits(bundle.train, bundle.val)
    if bundle.spec.forecast:  # a series: expanding-window folds in time order (aimodel/data/series.py)
        from aimodel.data.series import expanding_folds

        splits = expanding_folds(len(pool), folds, bundle.spec.horizon)
    else:
        splits = folds_for(cfg, pool, folds)
    path = claim_dir(Path(runs_root) / cfg.name, "cv", run_dir,
                     lambda path: ConfigError(f"--run-dir {path}: not empty; give a new folder"))
    atomic_write_text(path / "config.yaml", dump_config(cfg))
    layout = {"folds": folds, "seed": cfg.seed, "pool": len(pool),
              "validation": [_names(pool, val) for _, val in splits]}
    atomic_write_json(path / "folds.json", layout)
    results = []
    for k, (train_idx, val_idx) in enumerate(splits, 1):
        fold_bundle = DataBundle(train=pool.take(train_idx), val=pool.take(val_idx), test=bundle.test,
                                 spec=bundle.spec, notes={**bundle.notes, "cv_fold": k})
        row = _fold(cfg, path / f"fold-{k}", fold_bundle, train, score_test_split)
        row = {"fold": k, **row, "train": len(train_idx), "val": len(val_idx)}
        results.append(row)
        if on_fold is not None:
            on_fold(row)
    summary = {m: mean_std([r[m] for r in results]) for m in metrics_for(cfg.task)}
    seconds = round(time.perf_counter() - start, 2)
    failed = [r for r in results if r["status"] == "failed"]
    atomic_write_json(path / "cv.json", {"name": cfg.name, "task": cfg.task, "folds": folds, "seed": cfg.seed,
                                         "completed": folds - len(failed), "failed": len(failed),
                                         "per_fold": results, "summary": summary, "seconds": seconds})
    if len(failed) == folds:
        raise TrainingError(f"every fold failed (fold 1: {failed[0]['message']}); see {path / 'cv.json'}")
    return CvResult(path, results, summary, seconds)


def _fold(cfg: Config, run_dir: Path, bundle, train, score_test_split) -> dict:
    """Train and score one fold; a fold that cannot train is a row with ``status: failed`` and its reason.

    Ctrl-C and machine problems (disk full, no permission) are raised (see :func:`failure_reason`).
    """
    t0 = time.perf_counter()
    try:
        result = train(cfg, run_dir=run_dir, bundle=bundle)
        test = score_test_split(result.run_dir, bundle, cfg, model=result.model)
    except Exception as exc:
        reason = failure_reason(exc)
        if reason is None:
            raise
        log.warning("%s failed: %s", run_dir.name, reason)
        log.debug("%s failed", run_dir.name, exc_info=True)
        return {"status": "failed", "message": reason, "run_dir": str(run_dir),
                **dict.fromkeys(metrics_for(cfg.task)), "epochs": None,
                "seconds": round(time.perf_counter() - t0, 2)}
    final = result.final_metrics
    figures = {m: final.get(m) if m.startswith("val_") else test.get(m[len("test_"):]) for m in metrics_for(cfg.task)}
    return {"status": "completed", "message": "", "run_dir": str(result.run_dir), **figures,
            "epochs": result.epochs, "seconds": result.seconds}


def _names(pool, idx) -> list:
    """How fold membership is recorded: file paths for folder sources, else sample positions in the pool."""
    if pool.streamed:
        return [str(p) for p in pool.x.paths[idx]]
    return [int(i) for i in idx]



