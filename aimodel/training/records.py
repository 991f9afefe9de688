"""What a run leaves for people: meta.json, metrics.csv, train.log, summary.json, and the list of runs."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from aimodel.fileio import atomic_write_json, atomic_write_text, read_json_object

METRICS_FILE = "metrics.csv"
LOG_FILE = "train.log"
SUMMARY_FILE = "summary.json"


# --- meta.json: what evaluate and predict need to use the model ------------------------------


def _package_version() -> str:
    # read from the installed metadata, not ``aimodel.__version__``: nothing below the package root imports it
    from importlib import metadata

    try:
        return metadata.version("aimodel")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
        return "unknown"


def versions() -> dict:
    """The library versions a run was made with."""
    import keras
    import tensorflow as tf

    return {"aimodel": _package_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}


def run_meta(bundle, monitor: str) -> dict:
    """``meta.json``: the input spec, split sizes, the test split's fingerprint, the monitor, versions."""
    from aimodel.data.base import fingerprint

    return {
        "input": bundle.spec.to_json(),
        "splits": {"train": len(bundle.train), "val": len(bundle.val) if bundle.val else 0,
                   "test": len(bundle.test)},
        "test_fingerprint": fingerprint(bundle.test),
        "monitor": monitor,
        "versions": versions(),
    }


# --- metrics.csv ------------------------------------------------------------------------------


def append_metrics_row(run_dir: Path, row: dict) -> None:
    """Append one epoch's row (fsynced); the header is the first row's keys."""
    path = run_dir / METRICS_FILE
    header = read_header(path)
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header or list(row), extrasaction="ignore", restval="")
        if header is None:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def read_header(path: Path) -> Optional[list[str]]:
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), None)


def read_metrics(run_dir: Path) -> list[dict]:
    """Complete rows of metrics.csv (a row cut short by a kill is skipped)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if None not in r and None not in r.values() and r.get("epoch", "").isdigit()]


def truncate_metrics(run_dir: Path, epochs: int) -> None:
    """Keep the rows of epochs 1..``epochs``: the ones a resume does not train again."""
    path = run_dir / METRICS_FILE
    header = read_header(path)
    if header is None:
        return
    rows = [r for r in read_metrics(run_dir) if int(r["epoch"]) <= epochs]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


# --- train.log --------------------------------------------------------------------------------


class TrainLog:
    """Plain-text, append-only log of a run's sessions (``train.log``)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOG_FILE

    def write(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as f:
            for line in message.splitlines() or [""]:
                f.write(f"{stamp}  {line}\n")


# --- runs list --------------------------------------------------------------------------------


@dataclass
class RunInfo:
    path: Path
    name: str
    started: str
    epochs_completed: int
    epochs: Optional[int]
    monitor: Optional[str]
    best_value: Optional[float]
    best_epoch: Optional[int]
    status: str  # finished, interrupted, failed, running
    #: worker processes and samples per step of the last session (1 and training.batch_size for most runs)
    world_size: int = 1
    global_batch: Optional[int] = None
    #: tables and texts (baseline.json): the model's test accuracy and the baselines' figures
    test_accuracy: Optional[float] = None
    baselines: Optional[dict] = None
    #: the run's task (meta.json's input spec; runs from before ``task`` are classification)
    task: str = "classification"

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["path"] = str(self.path)
        return d


def read_summary(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}




def run_status(run_dir: Path, summary: dict) -> str:
    """finished / interrupted / failed / running.

    A run killed outright (``kill -9``, power loss) never wrote its final
    status; it still says "running" but nobody holds its lock, so it is
    reported as interrupted (and can be resumed).
    """
    from aimodel.training.rundir import is_locked

    status = summary.get("status", "unknown")
    if status == "running" and not is_locked(run_dir):
        return "interrupted"
    return status


def list_runs(root: str | Path = "runs") -> list[RunInfo]:
    """Every run directory under ``root`` (or ``root`` itself), oldest first."""
    root = Path(root)
    if (root / SUMMARY_FILE).is_file():
        dirs = [root]
    else:
        dirs = sorted({p.parent for depth in ("*", "*/*", "*/*/*") for p in root.glob(f"{depth}/{SUMMARY_FILE}")})
    runs = []
    for d in dirs:
        s = read_summary(d)
        state = {}
        try:
            state = json.loads((d / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        baseline = read_json_object(d / "baseline.json")
        runs.append(RunInfo(
            path=d,
            name=s.get("name") or d.parent.name,
            started=s.get("started", ""),
            epochs_completed=int(state.get("epoch", s.get("epochs_completed") or 0)),
            epochs=s.get("epochs"),
            monitor=state.get("monitor", s.get("monitor")),
            best_value=state.get("best_value", s.get("best_value")),
            best_epoch=state.get("best_epoch", s.get("best_epoch")),
            status=run_status(d, s),
            world_size=int(s.get("world_size") or 1),
            global_batch=s.get("global_batch"),
            test_accuracy=(baseline.get("model") or {}).get("accuracy"),
            baselines=baseline.get("baselines"),
            task=(read_json_object(d / "meta.json").get("input") or {}).get("task") or "classification",
        ))
    return sorted(runs, key=lambda r: (r.started, str(r.path)))


# --- summary.json -----------------------------------------------------------------------------


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def new_summary(name: str) -> dict:
    return {"name": name, "status": "running", "started": now(), "sessions": []}


@dataclass
class RunRecord:
    """One training session's entry in ``summary.json``, and what the run leaves when it ends.

    :meth:`begin` records the session before training starts (so a kill -9
    leaves it); :meth:`finish` writes the outcome, final metrics and curves.
    """

    path: Path
    cfg: Any
    summary: dict
    steps: int
    monitor: str
    n_train: int
    overrides: tuple = ()
    initial_epoch: int = 0
    wall_offset: float = 0.0
    log: Optional[TrainLog] = None
    tensorboard: Any = None
    #: how the session trains: strategy mode, worker processes, replicas (devices) in all
    distribution: dict = field(default_factory=dict)
    session: dict = field(default_factory=dict)
    _start: float = 0.0

    def begin(self) -> None:
        self.session = {"started": now(), "from_epoch": self.initial_epoch, "overrides": list(self.overrides)}
        self.session.update(self.distribution)
        self.summary.setdefault("sessions", []).append(self.session)
        # epochs is this session's target, so `runs list` never shows 16/15 while a resumed run extends it
        self.summary.update(world_size=self.distribution.get("world_size", 1),
                            global_batch=self.cfg.training.batch_size, epochs=self.cfg.training.epochs)
        self.summary["status"] = "running"
        atomic_write_json(self.path / SUMMARY_FILE, self.summary)
        self._start = time.perf_counter()

    def finish(self, callback, status: str, error: Optional[str] = None) -> dict:
        """Write summary.json for a session that ended with ``status``; returns the summary."""
        if self.tensorboard is not None:
            self.tensorboard.close()
        t, summary = self.cfg.training, self.summary
        st = callback.state
        sps = callback.samples_per_second(self.n_train)  # after the first epoch, checkpointing included
        rows = read_metrics(self.path)
        restore_best = t.early_stopping is None or t.early_stopping.restore_best
        final_model = "best.keras" if restore_best and st and st.best_checkpoint else "last.keras"
        final_epoch = st.best_epoch if final_model == "best.keras" and st else (st.epoch if st else None)
        final_row = next((r for r in rows if int(r["epoch"]) == final_epoch), {})
        self.session.update(ended=now(), to_epoch=callback.completed_epochs, status=status)
        summary.update(
            name=self.cfg.name,
            status=status,
            epochs=t.epochs,
            epochs_completed=callback.completed_epochs,
            global_step=st.global_step if st else 0,
            steps_per_epoch=self.steps,
            best_epoch=callback.best_epoch,
            monitor=self.monitor,
            best_value=callback.best.best,
            stopped_early=callback.stopped_epoch is not None,
            final_model=final_model if st else None,
            final_metrics={k: float(v) for k, v in final_row.items() if k not in ("epoch", "seconds")},
            wall_seconds=round(self.wall_offset + time.perf_counter() - self._start, 2),
            samples_per_second=sps if sps is not None else summary.get("samples_per_second"),
            versions=versions(),
        )
        summary.pop("error", None)
        if error:
            summary["error"] = error
        atomic_write_json(self.path / SUMMARY_FILE, summary)
        if self.log is not None:
            self.log.write(f"{status} after epoch {callback.completed_epochs}" + (f": {error}" if error else ""))
        return summary
