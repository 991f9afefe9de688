"""Predict classes for files, folders, globs, CSV rows or strings with a trained model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.errors import AimodelError, CheckpointError
from aimodel.inference.checkpoint import Checkpoint, ModelBackend, load_backend, resolve_checkpoint
from aimodel.inference.images import Polarity
from aimodel.inference.collect import Item, collect_items
from aimodel.inference.prepare import make_preparer


@dataclass
class Prediction:
    """One input's result: its top-k classes, or why it could not be predicted."""

    input: str
    label: Optional[str] = None
    confidence: Optional[float] = None
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: Optional[str] = None
    #: for CSV inputs: the original row, its file and that file's columns
    row: Optional[dict] = None
    source: Optional[str] = None
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"input": self.input}
        if self.error:
            out["error"] = self.error
        else:
            out.update(label=self.label, confidence=self.confidence,
                       top_k=[{"label": n, "confidence": c} for n, c in self.top_k])
        return out


@dataclass
class PredictResult:
    checkpoint: Checkpoint
    predictions: list[Prediction]
    top_k: int = 1
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(p.error is not None for p in self.predictions)

    @property
    def ok(self) -> bool:
        return self.failed == 0


class Predictor:
    """A loaded model and the preparation of its inputs; ``predict`` may be called many times.

    Example:
        >>> p = Predictor("runs/quickstart/1")
        >>> p.predict(["photos/"]).predictions[0].label
    """

    def __init__(self, model: str | Path | None = None, *, runs_root: str | Path = "runs",
                 polarity: Polarity = "auto", crop: bool = True):
        self.checkpoint = resolve_checkpoint(model, runs_root)
        self.backend: ModelBackend = load_backend(self.checkpoint)
        self.spec = self.checkpoint.spec or _spec_from_backend(self.backend)
        self.preparer = make_preparer(self.spec, self.backend.input_dtypes(), polarity=polarity, crop=crop)

    def predict(self, inputs: Sequence[str | Path] = (), *, texts: Sequence[str] = (), top_k: int = 3,
                batch_size: int = 64, column: Optional[str] = None) -> PredictResult:
        """Predict every input; one that cannot be read or used gets an error, the rest are predicted.

        Args:
            inputs: files, folders (recursive), glob patterns; CSV files for tabular/text models.
            texts: raw strings, for text models.
            top_k: how many classes to list per input.
            batch_size: inputs prepared and sent to the model at once.
            column: for text models reading a CSV, the column holding the text.
        """
        start = time.perf_counter()
        items = collect_items(inputs, texts, self.spec, column)
        k = max(1, min(top_k, len(self.spec.class_names)))
        results = [Prediction(input=it.name, error=it.error, row=it.row, source=it.source, columns=it.columns)
                   for it in items]
        pending = [i for i, it in enumerate(items) if it.error is None]
        for begin in range(0, len(pending), max(1, batch_size)):
            self._predict_chunk(items, results, pending[begin : begin + batch_size], k)
        return PredictResult(self.checkpoint, results, top_k=k, seconds=time.perf_counter() - start)

    def _predict_chunk(self, items: list[Item], results: list[Prediction], chunk: list[int], k: int) -> None:
        samples, ready = [], []
        for i, (sample, error) in zip(chunk, self.preparer.prepare_all([items[i] for i in chunk])):
            if error is None:
                samples.append(sample)
                ready.append(i)
            else:
                results[i].error = error
        if not ready:
            return
        try:
            probs = self.probabilities(samples)
        except AimodelError:
            raise
        except Exception as exc:  # one bad input must not sink the batch: isolate it
            if len(ready) > 1:
                for i in ready:
                    self._predict_chunk(items, results, [i], k)
                return
            results[ready[0]].error = f"{items[ready[0]].name}: {model_failure(exc)}"
            return
        finite = np.isfinite(probs).all(axis=1)
        for i, top, ok in zip(ready, top_classes(probs, self.spec.class_names, k), finite):
            if not ok:
                results[i].error = f"{items[i].name}: {NOT_FINITE}"
                continue
            results[i].label, results[i].confidence = top[0]
            results[i].top_k = top

    def probabilities(self, samples: list) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` of prepared samples, in one model call.

        Raises:
            CheckpointError: the model's output does not match its class names.
        """
        probs = self.backend.predict_proba(self.preparer.stack(samples))
        names = self.spec.class_names
        if probs.shape[1] != len(names):
            raise CheckpointError(f"{self.checkpoint.model_path}: the model outputs {probs.shape[1]} classes but "
                                  f"its meta.json names {len(names)}")
        return probs


def top_classes(probs: np.ndarray, names: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row of ``probs``: the ``k`` most likely ``(class name, probability)``, most likely first."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(names[j], round(float(probs[row, j]), 6)) for j in order[row]] for row in range(len(probs))]


#: The error of an input whose class probabilities came out NaN or infinite (a finite but extreme value, 1e308).
NOT_FINITE = "the model's output is not finite (NaN or infinity); an input value is probably far outside " \
             "the range the model was trained on"


def model_failure(exc: Exception) -> str:
    """The message for an input the model itself could not take (first line of the error)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"the model failed on this input ({first})"


def predict(
    inputs: Sequence[str | Path] = (),
    model: str | Path | None = None,
    *,
    texts: Sequence[str] = (),
    top_k: int = 3,
    polarity: Polarity = "auto",
    crop: bool = True,
    runs_root: str | Path = "runs",
    batch_size: int = 64,
    column: Optional[str] = None,
) -> PredictResult:
    """Classify inputs with a trained model; a bad input gets an error entry, the rest are predicted.

    Args:
        inputs: image files, folders (recursive), globs; text files or CSV files for text and
            tabular models (one prediction per row).
        model: run directory or model file; default: best model of the latest run.
        texts: raw strings for text models.
        top_k: how many classes to list per input.
        polarity: ``auto`` inverts dark-on-light photos for light-on-dark image models.
        crop: match the ink's position and size to the training data (ink images).
        batch_size: inputs sent to the model per call.
        column: the CSV column with the text, for text models.

    Returns:
        A :class:`PredictResult`; for a forecasting model (``dataset.name: timeseries``) a
        :class:`aimodel.inference.forecast.ForecastResult`: each CSV file's next ``horizon`` steps.
    """
    predictor = Predictor(model, runs_root=runs_root, polarity=polarity, crop=crop)
    if predictor.spec.forecast:  # a forecasting model: CSV files of the series in (aimodel/inference/forecast.py)
        from aimodel.inference.forecast import forecast_files

        return forecast_files(predictor, inputs, texts)
    return predictor.predict(inputs, texts=texts, top_k=top_k, batch_size=batch_size, column=column)


def _spec_from_backend(backend) -> InputSpec:
    """A bare model file without meta.json: only an image model's needs can be read off it."""
    shapes = backend.input_shapes() if hasattr(backend, "input_shapes") else {}
    shape = next(iter(shapes.values()))[1:] if len(shapes) == 1 else ()
    if len(shape) != 3 or any(d is None for d in shape) or not hasattr(backend, "model"):
        raise CheckpointError(f"{backend.path}: no meta.json beside the model (for an export: no <file>.json "
                              "beside it), so its input kind and class names are unknown; pass the run directory "
                              "(or a model file inside it)")
    n = int(backend.model.output_shape[-1])
    n = 2 if n == 1 else n
    return InputSpec(kind="image", shape=tuple(int(d) for d in shape), class_names=[str(i) for i in range(n)])
