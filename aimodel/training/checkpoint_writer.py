"""Epoch checkpoints written off the training thread.

At the end of an epoch the training thread only copies the values of the
model's and the optimizer's variables (a snapshot: milliseconds) and hands
them, with the epoch's metrics row and :class:`RunState`, to one writer
thread. The writer puts the snapshot into a *shadow* copy of the model, saves
that (temporary file, fsync, rename), appends the metrics row, then commits
``state.json`` and re-points the links: the order of
:mod:`aimodel.training.checkpointing`, so a ``kill -9`` at any moment, even
in the middle of a background write, leaves a ``state.json`` that names
complete files, and a resume is exact.

Every epoch is written and committed, in order. When an epoch ends while the
previous one is still being written, the training thread waits for it (so at
most two snapshots exist at a time, and nothing is skipped).

The shadow is the model as training starts, saved once to a temporary file by
the training thread (:meth:`CheckpointWriter.start`) and loaded back, in safe
mode, by the writer thread while the first epoch trains, from the end of its
first training call (:meth:`CheckpointWriter.begin`): loading is Python, and
started earlier it slowed the trace of the training graph. If the shadow does not match the model
variable for variable, every epoch is saved on the training thread instead, as
before, and the log says so.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from aimodel.errors import CheckpointError
from aimodel.training import checkpointing as ckpt
from aimodel.training.records import append_metrics_row

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Copies of a model's weights and optimizer variables, in a fixed order."""

    values: list
    n_weights: int  # the first n_weights values are model.weights, the rest optimizer.variables

    @classmethod
    def take(cls, model) -> "Snapshot":
        variables = _variables(model)
        # np.array copies: the training thread goes on updating the variables.
        return cls([np.array(v.numpy(), copy=True) for v in variables], len(model.weights))

    def weights(self):
        return self.values[: self.n_weights]


def _variables(model) -> list:
    """What a ``.keras`` file holds for training: the layers' weights, then the optimizer's variables."""
    optimizer = getattr(model, "optimizer", None)
    return list(model.weights) + (list(optimizer.variables) if optimizer is not None else [])


def _signature(variables) -> list[tuple]:
    return [(v.path, tuple(v.shape), str(v.dtype)) for v in variables]


@dataclass
class _Job:
    epoch: int
    snapshot: Snapshot
    state: ckpt.RunState
    row: dict


class ShadowPreload:
    """The writer's shadow model, saved now and loaded in a thread, before the writer exists.

    A new run on an image folder makes it while the image cache is still decoding
    (:mod:`aimodel.training.early_trace`), so the load (a safe-mode ``load_model``, Python) overlaps the
    decoding instead of the first epoch. :meth:`CheckpointWriter.start` adopts it.
    """

    def __init__(self, model):
        self.folder, self.print = _saved_copy(model)
        self._shadow = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._load, name="aimodel-shadow-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._shadow = ckpt.verify_model_file(self.folder / "model.keras", None, expected=self.print, compile=True)
        except BaseException as exc:  # noqa: BLE001 - raised where the shadow is used (the writer's thread)
            self._error = exc
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def result(self):
        """The loaded shadow model (waits for the load); raises what the load raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._shadow


def _saved_copy(model) -> tuple[Path, ckpt.ModelPrint]:
    """``model`` saved to ``FOLDER/model.keras`` in a new temporary folder, and what loading it back must
    give; the folder is removed again if saving fails."""
    model.optimizer.build(model.trainable_variables)  # the copy must hold the optimizer's variables
    folder = Path(tempfile.mkdtemp(prefix="aimodel-shadow-"))
    try:
        model_print = ckpt.ModelPrint.take(model)  # what the file must hold when it is loaded back
        model.save(folder / "model.keras")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, model_print


def preload_shadow(model) -> Optional[ShadowPreload]:
    """A :class:`ShadowPreload` of ``model``, or None when it cannot be saved (the writer then does as before)."""
    try:
        return ShadowPreload(model)
    except Exception as exc:  # noqa: BLE001 - the shadow is an optimization
        log.info("no early shadow model (%s: %s)", type(exc).__name__, exc)
        return None


class CheckpointWriter:
    """Writes and commits epoch checkpoints, in the background once a shadow model exists.

    Args:
        run_dir: the run directory.
        on_commit: called (on the thread that committed) with each committed state.
        background: False saves every epoch on the training thread (the old behaviour).
        last_good: the epoch of the run's last committed checkpoint, when resuming.
    """

    def __init__(self, run_dir: Path, on_commit: Callable[[ckpt.RunState], None], background: bool = True,
                 last_good: Optional[int] = None):
        self.run_dir = Path(run_dir)
        self.on_commit = on_commit
        self.background = background
        self._signature: Optional[list] = None
        self._shadow = None
        self._pending: Optional[_Job] = None
        self._busy = False
        self._loading = False
        self._stop = False
        self._error: Optional[BaseException] = None
        self._cv = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        #: the shadow's model, file and folder, saved before the first epoch and loaded after its first call
        self._deferred: Optional[tuple] = None
        #: seconds the training thread spent waiting for the writer (reported in train.log)
        self.waited = 0.0
        #: the first checkpoint of a session is loaded back (safe mode) and compared before it is kept
        self._verified = False
        self._print: Optional[ckpt.ModelPrint] = None
        self._last_good = last_good  # the epoch last.keras holds (a resumed session starts with one)

    # -- training thread ---------------------------------------------------------------------------

    def start(self, model, preload: Optional[ShadowPreload] = None) -> None:
        """Before the first epoch: hand the writer thread a copy of the model to load as its shadow
        (or ``preload``, one loading already: the writer thread starts with it now)."""
        if not self.background or self._thread is not None or self._deferred is not None:
            return
        if preload is not None:
            self._print = preload.print
            self._start(model, preload)
            return
        try:
            folder, self._print = _saved_copy(model)
        except Exception as exc:  # no shadow: the first epoch's checkpoint will serve instead
            log.info("no early shadow model (%s: %s)", type(exc).__name__, exc)
            return
        self._deferred = (model, folder / "model.keras", folder)

    def begin(self) -> None:
        """After the first training call: load the shadow in the writer thread from now on.

        Loading it (a safe-mode ``load_model``, Python that holds the GIL) while the first call traces the
        training graph (Python too) slowed that trace; once the call runs in TensorFlow's C++ the two overlap.
        """
        if self._deferred is not None:
            model, path, cleanup = self._deferred
            self._deferred = None
            self._start(model, path, cleanup=cleanup)

    def save(self, model, snapshot: Snapshot, state: ckpt.RunState, row: dict) -> None:
        """Checkpoint the epoch of ``state`` from ``snapshot`` (taken when the epoch ended)."""
        self._raise_error()
        self.begin()
        t0 = time.perf_counter()
        with self._cv:
            while (self._loading or self._pending is not None) and self._error is None:
                self._cv.wait()
            background = self._shadow is not None and self._error is None
            if background:
                self._pending = _Job(state.epoch, snapshot, state, row)
                self._cv.notify_all()
        self.waited += time.perf_counter() - t0
        self._raise_error()
        if background:
            return
        # No shadow (yet): save here, from the live model.
        self._checkpoint(model, state.epoch)
        self._commit(state, row)
        if self.background and self._thread is None:
            self._start(model, self.run_dir / state.checkpoint)

    def flush(self) -> None:
        """Wait until every submitted epoch is committed; re-raise a failed write."""
        t0 = time.perf_counter()
        with self._cv:
            while (self._loading or self._pending is not None or self._busy) and self._error is None:
                self._cv.wait()
        self.waited += time.perf_counter() - t0
        self._raise_error()

    def close(self) -> None:
        """Flush, then end the writer thread (safe to call more than once)."""
        try:
            self.flush()
        finally:
            with self._cv:
                self._stop = True
                self._cv.notify_all()
            if self._thread is not None:
                self._thread.join()
            if self._deferred is not None:  # training ended before its first call: no shadow was loaded
                shutil.rmtree(self._deferred[2], ignore_errors=True)
                self._deferred = None

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self.background = False
            raise error

    # -- writer thread -----------------------------------------------------------------------------

    def _start(self, model, first_file, cleanup: Optional[Path] = None) -> None:
        self._signature = _signature(_variables(model))
        self._loading = True
        self._thread = threading.Thread(target=self._run, args=(first_file, cleanup), name="aimodel-checkpoints",
                                        daemon=True)
        self._thread.start()

    def _run(self, first_file: Path, cleanup: Optional[Path]) -> None:
        try:
            self._load_shadow(first_file)
        except Exception as exc:  # no shadow: later epochs are saved on the training thread, as before
            log.warning("checkpoints are written on the training thread (%s: %s)", type(exc).__name__, exc)
        finally:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
        with self._cv:
            self._loading = False
            self._cv.notify_all()
            if self._shadow is None:
                return
        while True:
            with self._cv:
                while self._pending is None and not self._stop:
                    self._cv.wait()
                if self._pending is None:
                    return
                job, self._pending, self._busy = self._pending, None, True
                self._cv.notify_all()
            try:
                self._write(job)
            except BaseException as exc:
                with self._cv:
                    self._error = exc
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _load_shadow(self, path) -> None:
        import keras

        if isinstance(path, ShadowPreload):
            shadow = path.result()
        elif self._print is not None:
            # Loaded as evaluate and predict load a file (safe mode), weights and vocabularies compared:
            # this verifies what every checkpoint of the session will be, so the first is not reloaded.
            shadow = ckpt.verify_model_file(path, None, expected=self._print, compile=True)
        else:
            shadow = keras.saving.load_model(path, safe_mode=True)
        if _signature(_variables(shadow)) != self._signature:
            raise RuntimeError("the reloaded checkpoint does not have the model's variables")
        self._shadow = shadow
        self._verified = True

    def _write(self, job: _Job) -> None:
        for var, value in zip(_variables(self._shadow), job.snapshot.values):
            var.assign(value)
        self._checkpoint(self._shadow, job.epoch)
        self._commit(job.state, job.row)

    def _checkpoint(self, model, epoch: int) -> None:
        """Write epoch ``epoch``'s file; the session's first is verified to load back before it is kept,
        every later one to be a complete archive (:func:`checkpointing.check_archive`).

        What could make a file unloadable (architecture, custom layers, vocabularies) is fixed for the
        session, so checking the first one surfaces a problem after one epoch; what could still go
        wrong later is a damaged file, which the archive check catches before it replaces the
        previous good one; ``best.keras`` is checked again when training ends (see the runner).
        """
        verify = not self._verified
        try:
            ckpt.write_checkpoint(self.run_dir, model, epoch, verify=verify)
        except CheckpointError as exc:
            kept = (f"the last good checkpoint (epoch {self._last_good}) stays in {self.run_dir / 'last.keras'}"
                    if self._last_good else "no earlier checkpoint exists")
            raise CheckpointError(f"{exc}; training stopped, {kept}. This is a bug in aimodel or Keras; "
                                  "please report it with the run's config.yaml") from None
        self._verified = True

    def _commit(self, state: ckpt.RunState, row: dict) -> None:
        append_metrics_row(self.run_dir, row)
        ckpt.commit(self.run_dir, state)
        self._last_good = state.epoch
        self.on_commit(state)
