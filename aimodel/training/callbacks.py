"""Keras callbacks of the runner: progress, metrics CSV, atomic checkpoints, NaN guard."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import keras

from aimodel.fileio import atomic_save_model
from aimodel.training.progress import Reporter


class NonFiniteLoss(Exception):
    """Raised inside fit when the loss is NaN or infinite."""

    def __init__(self, epoch: int, step: int | None, value: float):
        super().__init__(f"loss became {value} at epoch {epoch}" + (f", batch {step}" if step is not None else ""))
        self.epoch, self.step, self.value = epoch, step, value


def _is_bad(value) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class RunCallback(keras.callbacks.Callback):
    """Reports progress, guards against NaN, writes metrics.csv and checkpoints.

    One callback rather than four keeps the order of side effects explicit:
    a checkpoint is complete on disk before its metrics row is written, so
    metrics.csv never claims an epoch that has no checkpoint.
    """

    def __init__(self, run_dir: Path, reporter: Reporter, monitor: str, batch_size: int):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.reporter = reporter
        self.monitor = monitor
        self.mode = "min" if monitor.endswith("loss") else "max"
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.batch_size = batch_size
        self.epoch_seconds: list[float] = []
        self.completed_epochs = 0
        self._epoch = 0
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._t0 = time.perf_counter()
        self.reporter.epoch_begin(self._epoch)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if _is_bad(logs.get("loss")):
            raise NonFiniteLoss(self._epoch, batch + 1, float(logs["loss"]))
        self.reporter.batch_end(self._epoch, batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        for key in ("loss", "val_loss"):
            if _is_bad(logs.get(key)):
                raise NonFiniteLoss(self._epoch, None, float(logs[key]))
        seconds = time.perf_counter() - self._t0
        self.epoch_seconds.append(seconds)
        value = logs.get(self.monitor)
        improved = value is not None and (
            self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        )
        if improved:
            self.best, self.best_epoch = float(value), self._epoch
            atomic_save_model(self.model, self.run_dir / "best.keras")
        atomic_save_model(self.model, self.run_dir / "last.keras")
        self._append_row(logs, seconds)
        self.completed_epochs = self._epoch
        self.reporter.epoch_end(self._epoch, logs, seconds, improved)

    def _append_row(self, logs: dict, seconds: float) -> None:
        path = self.run_dir / "metrics.csv"
        lr = self.model.optimizer.learning_rate
        row = {"epoch": self._epoch}
        row.update({k: f"{float(v):.6g}" for k, v in sorted(logs.items()) if k != "learning_rate"})
        row["learning_rate"] = f"{float(keras.ops.convert_to_numpy(lr)):.6g}"
        row["seconds"] = f"{seconds:.3f}"
        new = not path.exists()
        with open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())
