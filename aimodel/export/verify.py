"""Scoring an export against ``best.keras`` on the run's test split: accuracy, agreement, speed."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LATENCY_CALLS = 30


@dataclass
class TestBatches:
    """The run's test split, prepared once and shared by every model measured."""

    batches: list[Any]
    single: Any
    y: np.ndarray
    description: str

    @classmethod
    def build(cls, x, y, spec, description: str, batch_size: int) -> "TestBatches":
        from aimodel.evaluation.evaluate import _batches

        batches = list(_batches(x, spec, batch_size))
        single = next(iter(_batches(x, spec, 1)))
        return cls(batches, single, np.asarray(y), description)

    @property
    def samples(self) -> int:
        return int(len(self.y))


@dataclass
class Measurement:
    probs: np.ndarray
    latency_ms: float
    throughput: float

    def accuracy(self, y: np.ndarray) -> float:
        return float((self.probs.argmax(axis=1) == y).mean())


def measure(backend, test: TestBatches) -> Measurement:
    """Score every test batch (warming the model up), then time one more pass and single-input calls."""
    probs = np.concatenate([backend.predict_proba(b) for b in test.batches])
    start = time.perf_counter()
    for b in test.batches:
        backend.predict_proba(b)
    throughput = test.samples / max(time.perf_counter() - start, 1e-9)
    for _ in range(3):
        backend.predict_proba(test.single)
    times = []
    for _ in range(LATENCY_CALLS):
        t0 = time.perf_counter()
        backend.predict_proba(test.single)
        times.append(time.perf_counter() - t0)
    return Measurement(probs, statistics.median(times) * 1000.0, throughput)


def size_bytes(path: Path) -> int:
    """A file's size, or the total of a folder's files (SavedModel)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def row(name: str, fmt: str, quantization: str, size: int, m: Measurement, test: TestBatches,
        reference: Measurement | None, tolerance: float) -> dict:
    """One line of the report; compared with ``reference`` (best.keras) when given."""
    accuracy = m.accuracy(test.y)
    out = {"file": name, "format": fmt, "quantization": quantization, "bytes": int(size),
           "accuracy": round(accuracy, 6), "latency_ms": round(m.latency_ms, 3),
           "throughput_per_s": round(m.throughput, 1)}
    if reference is not None:
        diff = (accuracy - reference.accuracy(test.y)) * 100.0
        out.update(accuracy_diff_points=round(diff, 3),
                   max_prob_diff=round(float(np.abs(m.probs - reference.probs).max()), 6),
                   agreement=round(float((m.probs.argmax(1) == reference.probs.argmax(1)).mean()), 6),
                   status="ok" if diff >= -tolerance else "failed")
    return out
