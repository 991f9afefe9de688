"""Scoring an export against ``best.keras`` on the run's test split with the task's own figures, and speed.

:data:`CHECKS` holds one :class:`TaskCheck` per task: classification compares accuracy and top-1
agreement; regression the MAE (its growth in % of each target's standard deviation) and the largest
prediction difference (in target stds); multilabel micro-F1, each label's largest probability difference
and the share of equal label decisions. :class:`Limits` says how far each may stray.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from aimodel.registry import Registry

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
    #: regression: each target's standard deviation on the training split (the model's target_units layer)
    scale: Optional[list] = None

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

    def target_scale(self) -> np.ndarray:
        """Each target's standard deviation: the training split's (``scale``), else the test split's."""
        if self.scale is not None:
            scale = np.asarray(self.scale, np.float64).reshape(-1)
        else:
            scale = np.asarray(self.y, np.float64).reshape(len(self.y), -1).std(axis=0)
        return np.where(scale > 0, scale, 1.0)

    @property
    def samples(self) -> int:
        return int(len(self.y))

    @property
    def timing_samples(self) -> int:
        return min(self.samples, TIMING_SAMPLES)


@dataclass
class Measurement:
    """A model's outputs on the test split and its speed.

    ``probs`` holds the model's outputs: class probabilities, target values (regression, in the target's unit)
    or label probabilities (multilabel).
    """

    probs: np.ndarray
    latency_ms: float
    throughput: float

    @property
    def outputs(self) -> np.ndarray:
        return self.probs

    def accuracy(self, y: np.ndarray) -> float:
        return float((self.outputs.argmax(axis=1) == y).mean())


def task_outputs(probs: np.ndarray, outputs: int) -> np.ndarray:
    """A backend's ``predict_proba`` answer as the model's own outputs, ``(N, outputs)``.

    ``predict_proba`` widens one output column ``p`` into ``[1 - p, p]`` (a two-class sigmoid); a
    regression model with one target, or a multilabel one with one label, gets its column back unchanged.
    """
    if outputs == 1 and probs.ndim == 2 and probs.shape[1] == 2:
        return probs[:, 1:]
    return probs


def measure(backend, test: TestBatches) -> Measurement:
    """Score every test batch (warming the model up), then time a pass over the first samples and
    single-input calls."""
    from aimodel.tasks import task_of

    outputs = np.concatenate([backend.predict_proba(b) for b in test.batches()])
    if task_of(test.spec).name != "classification":
        outputs = task_outputs(outputs, len(test.spec.class_names))
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
    return Measurement(outputs, statistics.median(times) * 1000.0, throughput)


def size_bytes(path: Path) -> int:
    """A file's size, or the total of a folder's files (SavedModel)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def row(name: str, fmt: str, quantization: str, size: int, m: Measurement, test: TestBatches,
        reference: Measurement | None, tolerance: float) -> dict:
    """One line of the report, scored with the task's :data:`CHECKS` entry; compared with ``reference``
    (best.keras) when given: ``status`` is ``ok`` or ``failed`` (beyond the task's tolerance)."""
    from aimodel.tasks import task_of

    check = CHECKS.get(task_of(test.spec).name)
    out = {"file": name, "format": fmt, "quantization": quantization, "bytes": int(size),
           **check.scores(m, test), "latency_ms": round(m.latency_ms, 3), "throughput_per_s": round(m.throughput, 1)}
    if reference is not None:
        compared, ok = check.compare(m, reference, test, Limits.of(test.spec, quantization, tolerance))
        out.update(compared, status="ok" if ok else "failed")
    return out


@dataclass(frozen=True)
class Limits:
    """How far an export may stray from best.keras (the task's unit: accuracy or F1 points, % of a target's std)."""

    #: the headline figure (accuracy, micro-F1, MAE in % of the target's std) may be this much worse
    tolerance: float
    #: regression (in target stds) and multilabel (probability): the largest difference of any one output
    max_output_diff: Optional[float] = None

    @classmethod
    def of(cls, spec, quantization: str, tolerance: float) -> "Limits":
        """``--tolerance`` as it holds for ``quantization``: classification as given; regression and multilabel
        looser for quantized files (:data:`~aimodel.export.formats.TASK_TOLERANCE_FACTOR`)."""
        from aimodel.export.formats import MAX_OUTPUT_DIFF, TASK_TOLERANCE_FACTOR
        from aimodel.tasks import task_of

        if task_of(spec).name == "classification":
            return cls(tolerance)
        return cls(round(tolerance * TASK_TOLERANCE_FACTOR[quantization], 6), MAX_OUTPUT_DIFF[quantization])

    def to_json(self) -> dict:
        return {"tolerance_points": self.tolerance, "max_output_diff": self.max_output_diff}


@dataclass(frozen=True)
class TaskCheck:
    """How one task scores a model on the test split and compares an export with best.keras.

    ``scores(m, test) -> dict``: the model's own figures (the report's columns after ``bytes``).
    ``compare(m, reference, test, limits) -> (dict, ok)``: the differences to best.keras, and whether they
    are within ``limits``.
    """

    scores: Callable[[Measurement, TestBatches], dict]
    compare: Callable[[Measurement, Measurement, TestBatches, Limits], tuple[dict, bool]]
    #: what ``--tolerance`` counts for this task (messages and the printed table)
    tolerance_unit: str


CHECKS: Registry[TaskCheck] = Registry("export check")


def _classification_scores(m: Measurement, test: TestBatches) -> dict:
    return {"accuracy": round(m.accuracy(test.y), 6)}


def _classification_compare(m: Measurement, ref: Measurement, test: TestBatches, limits: Limits) -> tuple[dict, bool]:
    diff = (m.accuracy(test.y) - ref.accuracy(test.y)) * 100.0
    return {"accuracy_diff_points": round(diff, 3),
            "max_prob_diff": round(float(np.abs(m.outputs - ref.outputs).max()), 6),
            "agreement": round(float((m.outputs.argmax(1) == ref.outputs.argmax(1)).mean()), 6)}, diff >= -limits.tolerance


CHECKS.register("classification")(TaskCheck(_classification_scores, _classification_compare, "accuracy points"))


def _regression_errors(m: Measurement, test: TestBatches) -> np.ndarray:
    y = np.asarray(test.y, np.float64).reshape(len(test.y), -1)
    return np.abs(m.outputs.astype(np.float64) - y)


def _regression_scores(m: Measurement, test: TestBatches) -> dict:
    errors = _regression_errors(m, test)
    return {"mae": round(float(errors.mean()), 6), "rmse": round(float(np.sqrt((errors ** 2).mean())), 6)}


def _regression_compare(m: Measurement, ref: Measurement, test: TestBatches, limits: Limits) -> tuple[dict, bool]:
    """MAE growth and the largest prediction difference, each target's in units of its standard deviation."""
    scale = test.target_scale()
    grown = (_regression_errors(m, test).mean(axis=0) - _regression_errors(ref, test).mean(axis=0)) / scale
    diff = np.abs(m.outputs.astype(np.float64) - ref.outputs.astype(np.float64))
    max_std = float((diff / scale).max()) if diff.size else 0.0
    points = float(grown.max()) * 100.0 if grown.size else 0.0
    out = {"mae_diff": round(float(_regression_errors(m, test).mean() - _regression_errors(ref, test).mean()), 6),
           "mae_diff_std_points": round(points, 3), "max_diff": round(float(diff.max()), 6),
           "max_diff_std": round(max_std, 6), "limits": limits.to_json()}
    return out, points <= limits.tolerance and max_std <= limits.max_output_diff


CHECKS.register("regression")(TaskCheck(_regression_scores, _regression_compare, "% of the target's std (MAE)"))


def _decisions(m: Measurement, test: TestBatches) -> np.ndarray:
    from aimodel.tasks import thresholds_of

    return m.outputs >= np.asarray(thresholds_of(test.spec), np.float32)[None, :]


def _micro_f1(pred: np.ndarray, y: np.ndarray) -> float:
    truth = np.asarray(y) > 0.5
    tp = float((pred & truth).sum())
    denominator = float(pred.sum() + truth.sum())
    return 2.0 * tp / denominator if denominator else 1.0


def _multilabel_scores(m: Measurement, test: TestBatches) -> dict:
    pred = _decisions(m, test)
    subset = float((pred == (np.asarray(test.y) > 0.5)).all(axis=1).mean()) if len(pred) else 0.0
    return {"micro_f1": round(_micro_f1(pred, test.y), 6), "subset_accuracy": round(subset, 6)}


def _multilabel_compare(m: Measurement, ref: Measurement, test: TestBatches, limits: Limits) -> tuple[dict, bool]:
    """Micro-F1 points lost, each label's largest probability difference, and the share of equal decisions."""
    diff = (_micro_f1(_decisions(m, test), test.y) - _micro_f1(_decisions(ref, test), test.y)) * 100.0
    per_label = np.abs(m.outputs - ref.outputs).max(axis=0) if len(m.outputs) else np.zeros(len(test.spec.class_names))
    agreement = float((_decisions(m, test) == _decisions(ref, test)).mean()) if len(m.outputs) else 1.0
    out = {"micro_f1_diff_points": round(diff, 3), "max_prob_diff": round(float(per_label.max()), 6),
           "max_prob_diff_per_label": {name: round(float(v), 6) for name, v in zip(test.spec.class_names, per_label)},
           "agreement": round(agreement, 6), "limits": limits.to_json()}
    return out, diff >= -limits.tolerance and float(per_label.max()) <= limits.max_output_diff


CHECKS.register("multilabel")(TaskCheck(_multilabel_scores, _multilabel_compare, "micro-F1 points"))
