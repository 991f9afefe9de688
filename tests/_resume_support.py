"""Shared pieces of the resume tests: a tiny config, a fault-injecting driver, file helpers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from tests import conftest

#: conftest's tiny digits config, smaller still, with dropout and deterministic ops (exact resume checks)
TINY = {
    **conftest.TINY,
    "model": {"architecture": "cnn", "filters": [4], "dense": [8], "dropout": 0.25},
    "training": {"epochs": 3, "batch_size": 32, "learning_rate": 0.003, "deterministic": True},
}
STEPS_PER_EPOCH = 41  # ceil(1293 training digits / 32); not a multiple of steps_per_execution (16)


def write_config(tmp_path: Path, **training) -> Path:
    """The resume config with ``training`` overrides, as ``tmp_path/tiny.yaml``."""
    return conftest.write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], **training}})


# The driver runs the real CLI in a subprocess and injects one fault, chosen by
# AIMODEL_TEST_FAULT, at a deterministic point. Only this test driver reads it.
DRIVER = r'''
import os, signal, sys
fault = os.environ.get("AIMODEL_TEST_FAULT", "")
kind, _, arg = fault.partition(":")
if kind == "sigint_batch":
    # Ctrl-C as in a terminal: a suite started as a background job (`make test &`, nohup) hands its children
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    signal.signal(signal.SIGINT, signal.default_int_handler)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if kind in ("kill_batch", "sigint_batch"):
    from aimodel.training.callbacks import RunCallback
    epoch, step = map(int, arg.split(","))
    original = RunCallback.on_train_batch_end
    def on_train_batch_end(self, batch, logs=None):
        original(self, batch, logs)
        if self._epoch == epoch and batch + 1 >= step:
            # the earlier epochs' checkpoints are committed first (the background writer can lag behind
            # on a busy machine): the kill lands mid-epoch after a known last good checkpoint
            self.writer.flush()
            if kind == "kill_batch":
                die()
            os.kill(os.getpid(), signal.SIGINT)
    RunCallback.on_train_batch_end = on_train_batch_end
elif kind == "kill_write":  # the checkpoint file of epoch N is half written
    from aimodel.training import checkpointing
    epoch = int(arg)
    original = checkpointing.atomic_save_model
    def atomic_save_model(model, path, check=None):
        if path.name == f"epoch-{epoch:04d}.keras":
            def half(tmp):
                model.save(tmp)
                size = os.path.getsize(tmp)
                with open(tmp, "r+b") as f:
                    f.truncate(size // 2)
                die()
            from aimodel.fileio import atomic_write
            atomic_write(path, half, suffix=".keras")
        original(model, path, check)
    checkpointing.atomic_save_model = atomic_save_model
elif kind == "kill_async_write":  # the writer thread is half-way through epoch N's file while N+1 trains
    import threading
    from aimodel.fileio import atomic_write
    from aimodel.training import checkpointing
    from aimodel.training.callbacks import RunCallback
    epoch = int(arg)
    next_epoch_training = threading.Event()
    original_batch_end = RunCallback.on_train_batch_end
    def on_train_batch_end(self, batch, logs=None):
        original_batch_end(self, batch, logs)
        if self._epoch == epoch + 1:
            next_epoch_training.set()
    RunCallback.on_train_batch_end = on_train_batch_end
    original = checkpointing.atomic_save_model
    def atomic_save_model(model, path, check=None):
        in_background = threading.current_thread() is not threading.main_thread()
        if path.name == f"epoch-{epoch:04d}.keras" and in_background and next_epoch_training.wait(120):
            def half(tmp):
                model.save(tmp)
                with open(tmp, "r+b") as f:
                    f.truncate(os.path.getsize(tmp) // 2)
                die()
            atomic_write(path, half, suffix=".keras")
        original(model, path, check)
    checkpointing.atomic_save_model = atomic_save_model
elif kind in ("kill_before_state", "kill_before_links"):
    from aimodel.training import checkpointing
    epoch = int(arg)
    target = "atomic_write_json" if kind == "kill_before_state" else "publish"
    original = getattr(checkpointing, target)
    def patched(*args, **kwargs):
        state = args[1]
        e = state["epoch"] if isinstance(state, dict) else state.epoch
        if e == epoch:
            die()
        return original(*args, **kwargs)
    setattr(checkpointing, target, patched)
elif kind == "nan":  # poison one weight at the start of epoch N
    import numpy as np
    from aimodel.training.callbacks import RunCallback
    epoch = int(arg)
    original = RunCallback.on_epoch_begin
    def on_epoch_begin(self, e, logs=None):
        original(self, e, logs)
        if e + 1 == epoch:
            w = self.model.get_layer("predictions").kernel
            w.assign(np.full(w.shape, np.nan, dtype="float32"))
    RunCallback.on_epoch_begin = on_epoch_begin

from aimodel.cli import run
sys.argv = ["aimodel"] + sys.argv[1:]
run()
'''


def aimodel(args: list[str], tmp_path: Path, fault: str = "", timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``aimodel ARGS`` in a subprocess (through the fault driver)."""
    driver = tmp_path / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "AIMODEL_TEST_FAULT": fault,
           "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(driver), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def metrics_without_time(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def weights(path: Path) -> list:
    import keras

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    return [w.numpy() for w in model.weights]
