"""Atomic file writes: a reader (or a crash) never sees a half-written file; and the one lenient JSON reader."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Callable

from aimodel.compat import fix_keras_save_cache


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)``, fsync it, then rename it over ``path``.

    The temporary file lives in the same directory so the rename is atomic; the
    previous ``path`` stays intact until the new one is complete.
    """
    path = Path(path)
    remove_stale_temporaries(path)
    tmp_path, mode = _create_temporary(path, suffix or ".tmp")
    try:
        write(tmp_path)
        os.chmod(tmp_path, mode)  # in case ``write`` replaced the file rather than writing into it
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _create_temporary(path: Path, suffix: str) -> tuple[Path, int]:
    """Create an empty temporary file beside ``path``; return it and the mode ``path`` should end with.

    That mode is what a plain ``open(path, "w")`` gives: an existing file's mode is kept, a new
    file gets 0666 less the umask. (``tempfile.mkstemp`` would make it 0600 whatever the umask,
    and the rename would carry that over: files another user or a serving container cannot read.)
    """
    try:
        existing = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        existing = None
    while True:
        # The writer's pid is in the name, so a later write can tell a dead writer's leftover from a live one's file.
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        try:
            created = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        return tmp, created if existing is None else existing


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files that writers of ``path`` left when they were killed (kill -9, power loss)."""
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for tmp in candidates:
        pid = tmp.name[len(prefix):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_save_model(model, path: str | Path, check: Callable[[Path], None] | None = None) -> None:
    """``model.save`` through a temporary ``.keras`` file and an atomic rename.

    ``check(tmp_path)``, when given, runs on the written file before the rename;
    if it raises, the file is deleted and ``path`` keeps what it held.
    """

    def write(tmp: Path) -> None:
        fix_keras_save_cache()  # a Keras 3.15 bug: see aimodel.compat
        model.save(tmp)
        if check is not None:
            check(tmp)

    atomic_write(path, write, suffix=".keras")


def read_json_object(path: Path) -> dict:
    """A JSON object from ``path``, or ``{}`` when the file is missing, unreadable or not an object.

    For records a run may not have yet (``summary.json``, ``baseline.json``, ``evaluation.json``).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
