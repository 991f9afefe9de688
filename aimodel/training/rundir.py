"""Numbered run directories (runs/<name>/<n>, runs/<name>/tune-<n>), never overwritten, and their lock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from aimodel.errors import CheckpointError


def create_run_dir(runs_root: str | Path, name: str, run_dir: str | Path | None = None) -> Path:
    """Create and return a fresh run directory: ``run_dir``, or the next ``runs_root/name/<n>`` (see :func:`claim_dir`)."""
    return claim_dir(Path(runs_root) / name, given=run_dir, refuse=lambda path: CheckpointError(
        f"--run-dir {path}: already exists and is not empty; choose a new directory "
        "(aimodel never overwrites a run)"))


def claim_dir(parent: Path, prefix: str = "", given: str | Path | None = None,
              refuse: Callable[[Path], Exception] = FileExistsError) -> Path:
    """Create and return a directory no other command writes to.

    With ``given`` (a ``--run-dir``) that directory must not exist or be empty, else
    ``refuse(given)`` is raised. Otherwise the next free number under ``parent`` is
    claimed (``parent/<n>``, or ``parent/<prefix>-<n>`` with a prefix) with ``mkdir``,
    which is atomic, so two commands started together never share one.
    """
    if given is not None:
        path = Path(given)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise refuse(path)
        path.mkdir(parents=True, exist_ok=True)
        return path
    stem = f"{prefix}-" if prefix else ""
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[len(stem):]) for p in parent.iterdir()
             if p.name.startswith(stem) and p.name[len(stem):].isdigit()]
    n = max(taken, default=0) + 1
    while True:
        path = parent / f"{stem}{n}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1


LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory while a process trains in it.

    ``flock`` locks vanish with their process, so a run killed with ``kill -9``
    is never left locked. Where ``fcntl`` is missing (Windows) this is a no-op.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise CheckpointError(
                f"{self.path.parent}: another aimodel process is training in this run directory; "
                "wait for it to finish or stop it first"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(run_dir: str | Path) -> bool:
    """Whether a live process holds ``run_dir``'s lock."""
    path = Path(run_dir) / LOCK_FILE
    try:
        import fcntl
    except ImportError:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
