"""The runner's Keras callback: epoch seeding, NaN guard, plateau, early stopping, commits."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from aimodel.compat import flatten_layers, seed_generators
from aimodel.training import checkpointing as ckpt
from aimodel.training.checkpoint_writer import CheckpointWriter, Snapshot
from aimodel.training.progress import Reporter
from aimodel.training.records import TrainLog


class NonFiniteLoss(Exception):
    """Raised inside fit when the loss (or a weight) is NaN or infinite."""

    def __init__(self, epoch: int, step: int | None, value: float, what: str = "loss"):
        where = f"epoch {epoch}" + (f", batch {step}" if step is not None else "")
        super().__init__(f"{what} became {value} at {where}")
        self.epoch, self.step, self.value = epoch, step, value


def _is_bad(value) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass
class Watch:
    """Tracks the best value of one metric and the epochs since it improved."""

    monitor: str
    min_delta: float = 0.0
    best: Optional[float] = None
    wait: int = 0

    @property
    def mode(self) -> str:
        from aimodel.tasks import direction

        return direction(self.monitor)

    def improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


@dataclass
class Plateau:
    """Reduce-on-plateau as in Keras, with its state kept in ``state.json``."""

    watch: Watch
    factor: float
    patience: int
    cooldown: int
    min_lr: float
    cooldown_left: int = 0
    learning_rate: Optional[float] = None

    def update(self, value: float, lr: float) -> float:
        """Record this epoch's value; return the rate for the next epoch."""
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.watch.wait = 0
        if self.watch.improves(value):
            self.watch.best, self.watch.wait = value, 0
        elif self.cooldown_left == 0:
            self.watch.wait += 1
            if self.watch.wait >= self.patience and lr > self.min_lr:
                lr = max(lr * self.factor, self.min_lr)
                self.cooldown_left, self.watch.wait = self.cooldown, 0
        self.learning_rate = lr
        return lr

    def to_json(self) -> dict:
        return {"best": self.watch.best, "wait": self.watch.wait, "cooldown": self.cooldown_left,
                "learning_rate": self.learning_rate}

    def load(self, data: dict) -> None:
        self.watch.best, self.watch.wait = data.get("best"), data.get("wait", 0)
        self.cooldown_left, self.learning_rate = data.get("cooldown", 0), data.get("learning_rate")


@dataclass
class Session:
    """Where a session starts: a fresh run or a committed state."""

    run_dir: Path
    seed: int
    steps_per_epoch: int
    epochs: int
    monitor: str
    #: what early stopping watches (``training.monitors()``, derived once by the runner)
    es_monitor: str = ""
    state: Optional[ckpt.RunState] = None
    wall_offset: float = 0.0
    #: this worker's rank (multi_worker): its dropout masks differ from the other workers'
    rank: int = 0


@contextlib.contextmanager
def deferred_sigint():
    """Hold Ctrl-C until the block ends, so an epoch's commit is never cut short.

    (kill -9 cannot be held; the commit order in checkpointing covers it.)
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield  # another thread cannot set handlers; an ignored Ctrl-C (a background job, nohup) stays ignored
        return
    pending: list = []
    previous = signal.signal(signal.SIGINT, lambda *a: pending.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def reseed_layers(model, seed: int, epoch: int, rank: int = 0) -> None:
    """Set every layer's random state (Dropout, ...) from (seed, epoch, layer index).

    Keras does not save ``SeedGenerator`` state in ``.keras`` files, so a resumed
    run would draw different dropout masks; re-deriving it at each epoch start
    makes epoch k's randomness the same with or without a restart.
    """
    generators = []
    for layer in flatten_layers(model):
        generators.extend(seed_generators(layer))
    for i, gen in enumerate(generators):
        value = np.random.SeedSequence([seed, epoch, i] + ([rank] if rank else [])).generate_state(1, dtype=np.uint32)[0] % (2**31 - 1)
        gen.state.assign(np.array([value, 0], dtype=gen.state.dtype))


class RunCallback(keras.callbacks.Callback):
    """Seeds each epoch, guards against NaN, and commits each completed epoch.

    One callback rather than several keeps the order of side effects explicit:
    checkpoint file, metrics row, then ``state.json``; see :mod:`checkpointing`.
    """

    def __init__(self, session: Session, training, reporter: Reporter, order=None,
                 log: Optional[TrainLog] = None, tensorboard=None, background_checkpoints: bool = True,
                 shadow=None):
        super().__init__()
        self.tensorboard = tensorboard
        self.s = session
        self.reporter = reporter
        self.order = order
        self.log = log
        self.best = Watch(session.monitor)
        self.best_epoch: Optional[int] = None
        self.best_checkpoint: Optional[str] = None
        es = training.early_stopping
        self.early: Optional[Watch] = Watch(session.es_monitor or session.monitor, es.min_delta) if es else None
        self.patience = es.patience if es else 0
        self.stopped_epoch: Optional[int] = None
        sched = training.lr_schedule
        self.plateau: Optional[Plateau] = (
            Plateau(Watch(session.monitor, sched.min_delta), sched.factor, sched.patience,
                    sched.cooldown, sched.min_lr)
            if sched.type == "plateau" else None
        )
        self.epoch_seconds: list[float] = []
        self.completed_epochs = 0
        self._epoch = 0
        self._t0 = 0.0
        self._session_start = time.perf_counter()
        #: the last committed state (set by the writer, which may be another thread)
        self.state: Optional[ckpt.RunState] = session.state
        if session.state is not None:
            self._load(session.state)
        #: the shadow model the runner started loading before training (checkpoint_writer.ShadowPreload), or None
        self.shadow = shadow
        self.writer = CheckpointWriter(session.run_dir, self._committed, background=background_checkpoints,
                                       last_good=session.state.epoch if session.state is not None else None)
        self._epoch_starts: list[float] = []
        self._committed_at: Optional[float] = None
        self._first_epoch = self.completed_epochs  # of this session: epochs before it were trained earlier

    def _committed(self, state: ckpt.RunState) -> None:
        self.state, self.completed_epochs = state, state.epoch
        self._committed_at = time.perf_counter()

    def close(self) -> None:
        """Wait for the checkpoint writer to commit every finished epoch; re-raise a failed write."""
        self.writer.close()

    def samples_per_second(self, n_train: int) -> Optional[float]:
        """Training throughput after the session's first epoch (tracing), validation and checkpoints included.

        Wall time from the start of the session's second epoch to the commit of its last one.
        """
        epochs = self.completed_epochs - self._first_epoch
        if epochs < 1 or self._committed_at is None:
            return None
        first = 1 if epochs > 1 else 0
        seconds = self._committed_at - self._epoch_starts[first]
        return round(n_train * (epochs - first) / seconds, 1) if seconds > 0 else None

    def _load(self, st: ckpt.RunState) -> None:
        self.best.best, self.best_epoch, self.best_checkpoint = st.best_value, st.best_epoch, st.best_checkpoint
        self.completed_epochs = st.epoch
        if self.early is not None and st.early_stopping:
            self.early.best = st.early_stopping.get("best")
            self.early.wait = st.early_stopping.get("wait", 0)
        if self.plateau is not None and st.plateau:
            self.plateau.load(st.plateau)

    # -- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.writer.start(self.model, self.shadow)
        self.shadow = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.order is not None:
            self.order.set_epoch(epoch)
        reseed_layers(self.model, self.s.seed, epoch, self.s.rank)
        self._t0 = time.perf_counter()
        self._epoch_starts.append(self._t0)
        self.reporter.epoch_begin(self._epoch)

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if _is_bad(logs.get("loss")):
            raise NonFiniteLoss(self._epoch, batch + 1, float(logs["loss"]))
        self.writer.begin()  # the first call has traced the graph: the shadow may load now
        self.reporter.batch_end(self._epoch, batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        with deferred_sigint():
            improved = self._commit(dict(logs or {}))
        self.reporter.epoch_end(self._epoch, logs or {}, self.epoch_seconds[-1], improved)
        if self.stopped_epoch is not None:
            self.model.stop_training = True

    # -- the epoch commit ----------------------------------------------------------------------

    def _commit(self, logs: dict) -> bool:
        e = self._epoch
        for key in ("loss", "val_loss"):
            if _is_bad(logs.get(key)):
                raise NonFiniteLoss(e, None, float(logs[key]))
        # The model as this epoch left it (before a plateau changes the rate); written in the background.
        snapshot = Snapshot.take(self.model)
        for w, arr in zip(self.model.weights, snapshot.weights()):
            if not np.isfinite(arr).all():
                raise NonFiniteLoss(e, None, float(arr[~np.isfinite(arr)].flat[0]), what=f"weight {w.path}")
        seconds = time.perf_counter() - self._t0
        self.epoch_seconds.append(seconds)
        opt = self.model.optimizer
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))

        value = logs.get(self.s.monitor)
        improved = value is not None and self.best.improves(float(value))
        ckpt_name = ckpt.checkpoint_name(e)
        if improved:
            self.best.best, self.best_epoch, self.best_checkpoint = float(value), e, ckpt_name
        if self.plateau is not None and value is not None:
            new_lr = self.plateau.update(float(value), lr)
            if new_lr != lr:
                opt.learning_rate = new_lr
                if self.log:
                    self.log.write(f"epoch {e}: {self.s.monitor} has not improved for "
                                   f"{self.plateau.patience} epochs; learning rate {lr:.3g} -> {new_lr:.3g}")
        if self.early is not None and logs.get(self.early.monitor) is not None:
            current = float(logs[self.early.monitor])
            if self.early.improves(current):
                self.early.best, self.early.wait = current, 0
            else:
                self.early.wait += 1
                if self.early.wait >= self.patience:
                    self.stopped_epoch = e

        row = {"epoch": e}
        row.update({k: f"{float(v):.6g}" for k, v in sorted(logs.items()) if k != "learning_rate"})
        row["learning_rate"] = f"{lr:.6g}"
        row["seconds"] = f"{seconds:.3f}"

        state = ckpt.RunState(
            epoch=e,
            global_step=int(keras.ops.convert_to_numpy(opt.iterations)),
            steps_per_epoch=self.s.steps_per_epoch,
            checkpoint=ckpt_name,
            monitor=self.s.monitor,
            mode=self.best.mode,
            best_value=self.best.best,
            best_epoch=self.best_epoch,
            best_checkpoint=self.best_checkpoint,
            early_stopping=(
                {"monitor": self.early.monitor, "best": self.early.best, "wait": self.early.wait,
                 "stopped_epoch": self.stopped_epoch} if self.early is not None else {}
            ),
            plateau=self.plateau.to_json() if self.plateau is not None else {},
            learning_rate=float(keras.ops.convert_to_numpy(opt.learning_rate)),
            seed=self.s.seed,
            wall_seconds=round(self.s.wall_offset + time.perf_counter() - self._session_start, 3),
        )
        # Checkpoint file, metrics row, then state.json (see checkpoint_writer for the thread that does it).
        self.writer.save(self.model, snapshot, state, row)
        if self.tensorboard is not None:
            self.tensorboard.write_epoch(e, logs, lr)
        if self.log:
            shown = "  ".join(f"{k} {float(v):.4f}" for k, v in sorted(logs.items()) if k != "learning_rate")
            self.log.write(f"epoch {e}/{self.s.epochs}  {shown}  lr {lr:.3g}  {seconds:.1f}s"
                           + ("  *best" if improved else ""))
            if self.stopped_epoch is not None:
                self.log.write(f"early stopping: {self.early.monitor} has not improved for "
                               f"{self.patience} epochs")
        return improved
