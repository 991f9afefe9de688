"""The model a server serves: loaded once through the inference backends, with its preparers and metadata."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.data.spec import InputSpec, value_contract
from aimodel.errors import ServeError
from aimodel.fileio import read_json_object
from aimodel.inference.answers import Answer
from aimodel.inference.images import Polarity
from aimodel.inference.predict import Predictor
from aimodel.inference.prepare import Preparer, column_kinds, make_preparer
from aimodel.serving.forecasts import series_contract
from aimodel.serving.settings import NAME_PATTERN
from aimodel.tasks import task_of, thresholds_of


class ServedModel:
    """A :class:`~aimodel.inference.predict.Predictor` plus what a server needs around it.

    Loading goes through :func:`~aimodel.inference.checkpoint.resolve_checkpoint` and
    :func:`~aimodel.inference.checkpoint.load_backend`, so every format a backend
    reads (``.keras`` today, exports when they exist) is served the same way.

    Args:
        model: run directory or model file.
        name: the name in URLs; default: the run's config name, else the file's stem.
    """

    def __init__(self, model: str | Path, name: Optional[str] = None):
        self.predictor = Predictor(model)
        self.checkpoint = self.predictor.checkpoint
        self.spec: InputSpec = self.predictor.spec
        self.name = name or default_name(self.checkpoint.model_path, self.checkpoint.run_dir)
        if not NAME_PATTERN.match(self.name):
            raise ServeError(f"model name {self.name!r} cannot be used in URLs; pass --name NAME")
        self.version = _version(self.checkpoint.run_dir)
        self._preparers: dict[tuple[str, bool], Preparer] = {("auto", True): self.predictor.preparer}
        self.warmed = False

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def class_names(self) -> list[str]:
        """The names of the model's outputs: classes, regression targets or labels."""
        return list(self.spec.class_names)

    @property
    def answer(self) -> Answer:
        """How a prediction reads for this model's task (:mod:`aimodel.inference.answers`)."""
        return self.predictor.answer

    def preparer(self, polarity: Polarity = "auto", crop: bool = True) -> Preparer:
        """The preparer ``aimodel predict --polarity P --crop/--no-crop`` would use."""
        key = (polarity, crop)
        if key not in self._preparers:
            self._preparers[key] = make_preparer(self.spec, self.predictor.backend.input_dtypes(),
                                                 polarity=polarity, crop=crop)
        return self._preparers[key]

    def outputs(self, samples: list) -> np.ndarray:
        """The model's outputs ``(N, n_outputs)`` for prepared samples, in one model call: class probabilities,
        values in the targets' units (regression) or each label's probability (multilabel)."""
        return self.predictor.outputs(samples)

    #: the name from before tasks
    probabilities = outputs

    def warm_up(self) -> None:
        """Call the model on neutral samples once, so the first request does not pay for tracing it.

        Two batch sizes: the model call traces once per new batch shape, then generalizes the
        batch dimension. Does nothing the second time.

        Raises:
            CheckpointError: the model's output does not match its class names.
        """
        if not self.warmed:
            sample = self.example_sample()
            for n in (1, 2):
                self.outputs([sample] * n)
            self.warmed = True

    def example_sample(self) -> Any:
        """A neutral prepared sample, for the warm-up call that traces the model before the first request."""
        kind = self.spec.kind
        if kind == "text":
            return "hello"
        if kind == "tabular":
            kinds = column_kinds(self.spec, self.predictor.backend.input_dtypes())
            return {c: ("" if k == "categorical" else 0.0) for c, k in kinds.items()}
        return np.zeros(tuple(self.spec.shape), np.float32)

    def describe(self) -> dict:
        """Task, outputs, input kind and shape, format, the run's recorded metrics and staleness (``/metadata``).

        ``outputs`` names the model's output columns (classes, targets or labels) in order; a classifier
        also lists them as ``classes``, a regression model as ``targets``, a multilabel model as ``labels``
        with their decision ``thresholds``.
        """
        spec = self.spec
        task = task_of(spec).name
        info: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "format": self.checkpoint.format,
            "model_file": self.checkpoint.model_path.name,
            "task": task,
            "input": {"kind": spec.kind, "shape": list(spec.shape)},
            "outputs": self.class_names,
            {"classification": "classes", "regression": "targets"}.get(task, "labels"): self.class_names,
        }
        if task == "multilabel":
            info["thresholds"] = dict(zip(self.class_names, thresholds_of(spec)))
        if spec.kind == "image":
            info["input"].update(background=spec.background, content_fraction=spec.content_fraction)
        if spec.kind == "tabular":
            info["input"]["columns"] = column_kinds(spec, self.predictor.backend.input_dtypes())
        if spec.kind == "text" and spec.text_column:
            info["input"]["text_column"] = spec.text_column
        if spec.forecast:  # the series a CSV upload holds, and the raw windows the JSON APIs take
            info["input"]["series"] = series_contract(spec, self.name)
        contract = value_contract(spec)
        if contract is not None:
            info["input_contract"] = contract
        info["metrics"] = run_metrics(self.checkpoint.run_dir, task_of(spec).report_keys)
        if self.checkpoint.stale:  # an export whose run's model changed since it was made
            info["stale"] = self.checkpoint.stale
        return info


def default_name(model_path: Path, run_dir: Optional[Path]) -> str:
    """The run's config name (summary.json), else its folder's parent (runs/<name>/<n>), else the file's stem."""
    candidates = []
    if run_dir is not None:
        summary = read_json_object(run_dir / "summary.json")
        candidates += [summary.get("name"), run_dir.parent.name if run_dir.name.isdigit() else run_dir.name]
    candidates.append(model_path.stem)
    for c in candidates:
        if isinstance(c, str) and c:
            cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", c).strip("-._")[:64]
            if cleaned and NAME_PATTERN.match(cleaned):
                return cleaned
    return "model"


def run_metrics(run_dir: Optional[Path], report_keys: tuple[str, ...] = ("accuracy",)) -> dict:
    """What the run recorded about its quality: training's final metrics and, if run, the test evaluation
    (its task's top-level figures, ``report_keys``: accuracy, or mae/rmse/r2, or the F1s)."""
    if run_dir is None:
        return {}
    out: dict[str, Any] = {}
    summary = read_json_object(run_dir / "summary.json")
    if summary.get("final_metrics"):
        out["training"] = {k: v for k, v in summary["final_metrics"].items() if isinstance(v, (int, float))}
        out["training"].update({k: summary[k] for k in ("monitor", "best_value", "best_epoch", "epochs_completed")
                                if k in summary})
    evaluation = read_json_object(run_dir / "evaluation.json")
    wanted = ("split", "samples", *report_keys, "top_k", "top_k_accuracy", "loss", "macro_avg")
    if evaluation:
        out["evaluation"] = {k: evaluation[k] for k in wanted if k in evaluation}
    return out




def _version(run_dir: Optional[Path]) -> str:
    """TF Serving's version: the run number of ``runs/<name>/<n>``, else 1."""
    return run_dir.name if run_dir is not None and run_dir.name.isdigit() else "1"
