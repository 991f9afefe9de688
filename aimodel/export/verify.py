"""Scoring an export against ``best.keras`` on the run's test split: accuracy, agreement, speed."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LATENCY_CALLS = 30


#: samples of the throughput pass (the first ones of the test split)
TIMING_SAMPLES = 1024
#: image folders up to this many decoded bytes are decoded once, not once per model
DECODE_ONCE_BYTES = 1 << 30


@dataclass
class TestBatches:
    """The run's test split, as every model measured is fed it: in batches, as evaluate batches it."""

    x: Any
    y: np.ndarray
    spec: Any
    description: str
    batch_size: int
    single: Any = None
    timing: list = field(default_factory=list)

    @classmethod
    def build(cls, x, y, spec, description: str, batch_size: int) -> "TestBatches":
        from aimodel.data.base import take

        if hasattr(x, "load") and int(np.prod(x.shape)) <= DECODE_ONCE_BYTES:
            x = x.load()  # image files: decoded once (uint8) for every model measured
        test = cls(x, np.asarray(y), spec, description, batch_size)
        head = take(x, np.arange(min(len(test.y), TIMING_SAMPLES)))
        test.timing = list(test._batches(head, batch_size))
        test.single = next(iter(test._batches(head, 1)))
        return test

    def _batches(self, x, batch_size: int):
        from aimodel.evaluation.evaluate import _batches

        return _batches(x, self.spec, batch_size)

    def batches(self):
        return self._batches(self.x, self.batch_size)

    @property
    def samples(self) -> int:
        return int(len(self.y))

    @property
    def timing_samples(self) -> int:
        return min(self.samples, TIMING_SAMPLES)


@dataclass
class Measurement:
    probs: np.ndarray
    latency_ms: float
    throughput: float

    def accuracy(self, y: np.ndarray) -> float:
        return float((self.probs.argmax(axis=1) == y).mean())


def measure(backend, test: TestBatches) -> Measurement:
    """Score every test batch (warming the model up), then time a pass over the first samples and
    single-input calls."""
    probs = np.concatenate([backend.predict_proba(b) for b in test.batches()])
    start = time.perf_counter()
    for b in test.timing:
        backend.predict_proba(b)
    throughput = test.timing_samples / max(time.perf_counter() - start, 1e-9)
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
