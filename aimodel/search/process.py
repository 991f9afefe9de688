"""How tune and cv train: their runs one after another, in the one process they were started in, which
alone works in its folder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from aimodel.errors import (AimodelError, CheckpointError, ConfigError, StorageError, TrainingInterrupted,
                            storage_error)
from aimodel.training.distribute import cluster_from_env
from aimodel.training.rundir import RunLock


def one_process(cfg, command: str):
    """``cfg`` for a command that trains its runs one after another in this process (tune, cv).

    Such a command is started once, not once per worker, so a ``TF_CONFIG`` left in the environment
    (a TFJob, Ray) must not make every trial wait for a cluster: ``auto`` then means one process
    (``none``); ``multi_worker`` is refused with a message.
    """
    setting = cfg.training.distribute
    if setting == "multi_worker":
        raise ConfigError(f"training.distribute: multi_worker: `aimodel {command}` trains its runs one after "
                          "another in one process; set none, mirrored or auto (auto ignores TF_CONFIG here) and "
                          "train across workers with `aimodel train`")
    if setting == "auto" and cluster_from_env() is not None:
        return cfg.model_copy(update={"training": cfg.training.model_copy(update={"distribute": "none"})})
    return cfg


@contextlib.contextmanager
def only_user(path: Path, command: str) -> Iterator[None]:
    """Hold ``path`` (a search directory) for this process alone while ``aimodel COMMAND`` works in it.

    Raises:
        CheckpointError: another live process holds it (a second ``tune --resume`` of a running search).
    """
    try:
        lock = RunLock(path).acquire()
    except CheckpointError:
        raise CheckpointError(f"{path}: another `aimodel {command}` is running in this folder; wait for it to "
                              "finish, or stop it first") from None
    try:
        yield
    finally:
        lock.release()


def failure_reason(exc: Exception, limit: int = 300) -> str | None:
    """Why one trial or fold failed, in one line, or None when ``exc`` must end the whole command.

    A NaN loss, running out of memory or a model that cannot be built concern that trial's values, so
    the others still run. Ctrl-C and the machine's own problems (disk full, no permission) would meet
    every later trial too: None. TensorFlow's out-of-memory errors run to many lines; the first says
    what happened.
    """
    if isinstance(exc, (TrainingInterrupted, StorageError)) or storage_error(exc) is not None:
        return None
    text = str(exc) if isinstance(exc, AimodelError) else f"{type(exc).__name__}: {exc}"
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    return line if len(line) <= limit else line[:limit - 1] + "…"
