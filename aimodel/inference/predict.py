"""Predict classes for image files with a trained model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.errors import AimodelError, CheckpointError
from aimodel.inference.checkpoint import Checkpoint, load_model, resolve_checkpoint
from aimodel.inference.images import Polarity, prepare_image


@dataclass
class Prediction:
    input: str
    label: Optional[str] = None
    confidence: Optional[float] = None
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: Optional[str] = None

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

    @property
    def ok(self) -> bool:
        return all(p.error is None for p in self.predictions)


def predict(
    inputs: Sequence[str | Path],
    model: str | Path | None = None,
    *,
    top_k: int = 3,
    polarity: Polarity = "auto",
    crop: bool = True,
    runs_root: str | Path = "runs",
    batch_size: int = 64,
) -> PredictResult:
    """Classify image files; a file that cannot be read gets an error entry, the rest are predicted.

    Args:
        inputs: image paths.
        model: run directory or ``.keras`` file; default: best model of the latest run.
        top_k: how many classes to list per input.
        polarity: ``auto`` inverts dark-on-light photos for light-on-dark models.
        crop: match the ink's position and size to the training data.
    """
    ckpt = resolve_checkpoint(model, runs_root)
    net = load_model(ckpt.model_path)
    spec = ckpt.spec
    if spec is None:
        spec = _spec_from_model(net)
    prepared: list[Optional[np.ndarray]] = []
    results = [Prediction(input=str(p)) for p in inputs]
    for res in results:
        try:
            prepared.append(prepare_image(res.input, spec, polarity=polarity, crop=crop))
        except AimodelError as exc:
            res.error = str(exc)
            prepared.append(None)
    good = [i for i, a in enumerate(prepared) if a is not None]
    if good:
        batch = np.stack([prepared[i] for i in good]).astype(np.float32)
        probs = np.asarray(net.predict(batch, batch_size=batch_size, verbose=0))
        k = max(1, min(top_k, probs.shape[-1]))
        for i, row in zip(good, probs):
            order = np.argsort(-row)[:k]
            top = [(spec.class_names[j], round(float(row[j]), 6)) for j in order]
            results[i].label, results[i].confidence = top[0]
            results[i].top_k = top
    return PredictResult(checkpoint=ckpt, predictions=results)


def _spec_from_model(net):
    from aimodel.data.base import InputSpec

    shape = tuple(int(d) for d in net.input_shape[1:])
    if len(shape) != 3:
        raise CheckpointError("this model does not take images; predict supports image models")
    n = int(net.output_shape[-1])
    return InputSpec(kind="image", shape=shape, class_names=[str(i) for i in range(n)])
