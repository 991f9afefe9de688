"""What a run leaves for people: metrics.csv, train.log, summary.json, and the list of runs."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aimodel.fileio import atomic_write_text

METRICS_FILE = "metrics.csv"
LOG_FILE = "train.log"
SUMMARY_FILE = "summary.json"


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
        ))
    return sorted(runs, key=lambda r: (r.started, str(r.path)))
