"""The training runner: data → model → fit → run directory."""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aimodel.config import Config, dump_config
from aimodel.errors import TrainingError, TrainingInterrupted
from aimodel.fileio import atomic_write_json, atomic_write_text
from aimodel.training.progress import Reporter
from aimodel.training.rundir import create_run_dir

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    best_epoch: Optional[int]
    monitor: str
    best_value: Optional[float]
    final_metrics: dict
    seconds: float
    samples_per_second: Optional[float]


def versions() -> dict:
    import keras
    import tensorflow as tf

    from aimodel import __version__

    return {"aimodel": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}


def train(
    cfg: Config,
    *,
    runs_root: str | Path = "runs",
    run_dir: str | Path | None = None,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Train the model a config describes and save everything to a new run directory.

    Args:
        cfg: validated config (see :func:`aimodel.load_config`).
        runs_root: parent of numbered run directories (``runs/<name>/<n>``).
        run_dir: an explicit, new or empty, run directory instead.
        reporter: receives progress events (the CLI draws them).

    Returns:
        A :class:`TrainResult`; the run directory holds ``config.yaml``,
        ``meta.json``, ``best.keras``, ``last.keras``, ``metrics.csv`` and
        ``summary.json``.
    """
    import keras

    from aimodel.data import load_data
    from aimodel.data.base import fingerprint
    from aimodel.data.pipeline import make_dataset
    from aimodel.models.factory import build_model
    from aimodel.training.callbacks import NonFiniteLoss, RunCallback

    reporter = reporter or Reporter()
    keras.utils.set_random_seed(cfg.seed)
    bundle = load_data(cfg.dataset, cfg.seed)
    # Build before creating the run directory: a config that cannot build leaves nothing behind.
    model = build_model(cfg, bundle)

    path = create_run_dir(runs_root, cfg.name, run_dir)
    atomic_write_text(path / "config.yaml", dump_config(cfg))
    monitor = cfg.training.monitor if bundle.val is not None else "accuracy"
    meta = {
        "input": bundle.spec.to_json(),
        "splits": {"train": len(bundle.train), "val": len(bundle.val) if bundle.val else 0,
                   "test": len(bundle.test)},
        "test_fingerprint": fingerprint(bundle.test),
        "monitor": monitor,
        "versions": versions(),
    }
    atomic_write_json(path / "meta.json", meta)
    summary = {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(path / "summary.json", summary)

    batch = cfg.training.batch_size
    train_ds = make_dataset(bundle.train, batch, shuffle=True, seed=cfg.seed)
    val_ds = make_dataset(bundle.val, batch) if bundle.val is not None else None
    steps = -(-len(bundle.train) // batch)
    callback = RunCallback(path, reporter, monitor, batch)
    reporter.train_begin(cfg.training.epochs, steps, str(path))
    start = time.perf_counter()

    def finish(status: str, **extra) -> dict:
        # Steady-state speed: skip the first epoch, which includes tracing.
        secs = callback.epoch_seconds[1:] or callback.epoch_seconds
        sps = round(len(bundle.train) * len(secs) / sum(secs), 1) if secs and sum(secs) > 0 else None
        summary.update(
            status=status,
            epochs_completed=callback.completed_epochs,
            best_epoch=callback.best_epoch,
            monitor=monitor,
            best_value=callback.best,
            wall_seconds=round(time.perf_counter() - start, 2),
            samples_per_second=sps,
            **extra,
        )
        atomic_write_json(path / "summary.json", summary)
        return summary

    try:
        history = model.fit(
            train_ds, validation_data=val_ds, epochs=cfg.training.epochs, callbacks=[callback],
            shuffle=False, verbose=0
        )
    except KeyboardInterrupt:
        finish("interrupted")
        reporter.train_end()
        done = callback.completed_epochs
        saved = f"epoch {done} is saved in {path / 'last.keras'}" if done else "no epoch had completed"
        raise TrainingInterrupted(f"training interrupted; {saved}") from None
    except NonFiniteLoss as exc:
        finish("failed", error=str(exc))
        reporter.train_end()
        kept = (
            f"the last good checkpoint (epoch {callback.completed_epochs}) is kept in {path}"
            if callback.completed_epochs else "no epoch had completed, so there is no checkpoint"
        )
        raise TrainingError(
            f"{exc}; training stopped. {kept}. Try a lower training.learning_rate "
            f"(now {cfg.training.learning_rate}) or check the data for extreme values"
        ) from None
    except BaseException:
        finish("failed")
        reporter.train_end()
        raise
    reporter.train_end()
    final = {k: float(v[-1]) for k, v in history.history.items()}
    s = finish("finished", final_metrics=final)
    return TrainResult(
        run_dir=path, epochs=callback.completed_epochs, best_epoch=callback.best_epoch,
        monitor=monitor, best_value=callback.best, final_metrics=final,
        seconds=s["wall_seconds"], samples_per_second=s["samples_per_second"],
    )
