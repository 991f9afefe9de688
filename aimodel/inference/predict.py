"""Predict with a trained model for files, folders, globs, CSV rows or strings.

What a prediction says depends on the model's task (:mod:`aimodel.inference.answers`): a class with
its top-k, a value per target, or a label set with every label's probability.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.errors import AimodelError, CheckpointError
from aimodel.inference.answers import Answer, Prediction, answer_for
from aimodel.inference.checkpoint import Checkpoint, ModelBackend, load_backend, resolve_checkpoint
from aimodel.inference.images import Polarity
from aimodel.inference.collect import Item, collect_items
from aimodel.inference.prepare import make_preparer


@dataclass
class PredictResult:
    checkpoint: Checkpoint
    predictions: list[Prediction]
    top_k: int = 1
    seconds: float = 0.0
    #: how the predictions read (their task's CSV and table columns); None: classification
    answer: Optional[Answer] = None

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
        self.answer: Answer = answer_for(self.spec)

    def predict(self, inputs: Sequence[str | Path] = (), *, texts: Sequence[str] = (), top_k: int = 3,
                batch_size: int = 64, column: Optional[str] = None) -> PredictResult:
        """Predict every input; one that cannot be read or used gets an error, the rest are predicted.

        Args:
            inputs: files, folders (recursive), glob patterns; CSV files for tabular/text models.
            texts: raw strings, for text models.
            top_k: how many classes to list per input (classification).
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
        return PredictResult(self.checkpoint, results, top_k=k, seconds=time.perf_counter() - start,
                             answer=self.answer)

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
            outputs = self.outputs(samples)
        except AimodelError:
            raise
        except Exception as exc:  # one bad input must not sink the batch: isolate it
            if len(ready) > 1:
                for i in ready:
                    self._predict_chunk(items, results, [i], k)
                return
            results[ready[0]].error = f"{items[ready[0]].name}: {model_failure(exc)}"
            return
        for i, row in zip(ready, outputs):
            if not np.isfinite(row).all():
                results[i].error = f"{items[i].name}: {NOT_FINITE}"
                continue
            self.answer.fill(results[i], row, k)

    def outputs(self, samples: list) -> np.ndarray:
        """The model's answers ``(N, n_outputs)`` for prepared samples, in one model call.

        Classification: class probabilities (a one-unit sigmoid made two columns); regression:
        values in the targets' units; multilabel: each label's probability. Column ``j`` is
        ``spec.class_names[j]``.

        Raises:
            CheckpointError: the model's output does not match its meta.json's names.
        """
        batch = self.preparer.stack(samples)
        if self.answer.task == "classification":
            out = self.backend.predict_proba(batch)
        else:
            out = self.backend.predict_outputs(batch)
        names = self.spec.class_names
        if out.shape[1] != len(names):
            what = {"classification": "classes", "regression": "targets"}.get(self.answer.task, "labels")
            raise CheckpointError(f"{self.checkpoint.model_path}: the model outputs {out.shape[1]} values but "
                                  f"its meta.json names {len(names)} {what}")
        return out

    #: the name from before tasks (serving, benchmarks and tests call it); the same model call
    probabilities = outputs


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
    """Predict inputs with a trained model: a class, a value or a label set, by its task.

    A bad input gets an error entry; the rest are predicted.

    Args:
        inputs: image files, folders (recursive), globs; text files or CSV files for text and
            tabular models (one prediction per row).
        model: run directory or model file; default: best model of the latest run.
        texts: raw strings for text models.
        top_k: how many classes to list per input (classification).
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
