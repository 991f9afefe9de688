"""Numbered run directories: runs/<name>/<n>, never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

from aimodel.errors import CheckpointError


def create_run_dir(runs_root: str | Path, name: str, run_dir: str | Path | None = None) -> Path:
    """Create and return a fresh run directory.

    With ``run_dir`` the directory must not exist or be empty; otherwise the
    next free number under ``runs_root/name`` is claimed with ``mkdir``, which
    is atomic, so two trainings started together never share one.
    """
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise CheckpointError(
                f"--run-dir {path}: already exists and is not empty; choose a new directory "
                "(aimodel never overwrites a run)"
            )
        path.mkdir(parents=True, exist_ok=True)
        return path
    parent = Path(runs_root) / name
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    n = max(taken, default=0) + 1
    while True:
        path = parent / str(n)
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
