"""Evaluate a trained model: metrics, per-class (per-target, per-label) report, plots and the examples it gets
most wrong, for each task (:mod:`aimodel.tasks`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.errors import CheckpointError, DataError
from aimodel.evaluation.metrics import classification_report
from aimodel.evaluation.reports import misclassified, write_confusion_csv, write_errors_csv, write_per_class_csv
from aimodel.evaluation.sources import EvalData, load_eval_data
from aimodel.fileio import atomic_write_json
from aimodel.inference.checkpoint import load_backend, resolve_checkpoint
from aimodel.tasks import task_of, thresholds_of

if TYPE_CHECKING:
    from aimodel.config import Config
    from aimodel.data.base import DataBundle


def evaluate(
    checkpoint: str | Path,
    *,
    split: str = "test",
    data: str | Path | None = None,
    out: str | Path | None = None,
    top_k: int = 3,
    batch_size: int = 256,
    max_error_images: int = 24,
    label: Optional[str] = None,
) -> dict:
    """Score a model and write its reports.

    Args:
        checkpoint: a run directory or a model file inside one.
        split: ``test`` (default), ``val`` or ``train`` of the run's data (or of ``data``).
        data: another dataset with the model's classes: a config file (its dataset section),
            an ``.npz`` (``x, y``, or ``x_test, y_test``), a folder of class folders, or a CSV
            file with a label column; folders and CSV files are read as ``predict`` reads them.
        out: folder for the reports. Default: the run directory for its own test split,
            ``<run>/evaluation-<split>`` for another split, ``<run>/evaluation-<data name>`` for ``data``.
        top_k: k of the top-k accuracy.
        batch_size: samples per model call.
        max_error_images: how many misclassified images ``errors.png`` shows.
        label: for a CSV ``data``, its class column (default: the run's ``dataset.label``, else ``label``).

    Returns:
        The report written to ``evaluation.json``, plus ``written_to`` (its path) and ``files``
        (every file written). Classification: loss, accuracy, top-k accuracy, per-class
        precision/recall/F1/support, macro and weighted averages, ROC AUC for two classes,
        most-confused class pairs, confusion matrix. Regression (``task: regression``): mae, rmse,
        r2 (means over the targets), mse, ``per_target`` and ``worst_errors``. Multilabel: micro_f1,
        macro_f1, subset_accuracy, loss, hamming_loss, micro and macro averages, ``per_label``
        (with each label's threshold). Tables and texts also get ``baselines``.
    """
    ckpt = resolve_checkpoint(checkpoint)
    spec = ckpt.spec
    if spec is None:
        raise CheckpointError(f"{ckpt.model_path}: no meta.json beside the model (class names and input kind); "
                              "evaluate needs the run directory")
    backend = load_backend(ckpt)
    ev = load_eval_data(ckpt, spec, split, data, input_dtypes=backend.input_dtypes(), label=label)
    out_dir = _out_dir(ckpt.run_dir, ev, out, ckpt)
    if spec.forecast:  # a forecasting model, scored beside its naive baselines (aimodel/evaluation/forecast.py)
        from aimodel.evaluation.forecast import evaluate_forecast

        return evaluate_forecast(ckpt, backend, ev, out_dir, batch_size)

    start = time.perf_counter()
    probs = np.concatenate([backend.predict_proba(b) for b in _batches(ev.x, spec, batch_size)])
    seconds = time.perf_counter() - start
    probs = _outputs(probs, spec, ckpt.model_path)

    report: dict[str, Any] = {"model": str(ckpt.model_path), "data": ev.description, "split": split}
    task = task_of(spec).name
    if task != "classification":  # classification reports keep the layout they had before task:
        report["task"] = task
    report.update(_score(task, ev.y, probs, spec, top_k))
    if ev.note:
        report["note"] = ev.note
    if ckpt.stale:  # an export whose run's model changed since: its scores may not be the model's now
        report["stale"] = ckpt.stale
    report["seconds"] = round(seconds, 3)
    _add_baselines(report, ckpt, spec, ev)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = _write_reports(out_dir, report, ev, probs, spec, max_error_images)
    report["files"] = [str(out_dir / f) for f in files]
    atomic_write_json(out_dir / "evaluation.json", report)
    report["written_to"] = str(out_dir / "evaluation.json")
    return report


def score_test_split(run_dir: Path, bundle: "DataBundle", cfg: "Config", model: Any = None) -> dict:
    """Keras' loss and metrics of a run's final model on ``bundle.test``, as tune and cv score each run.

    Args:
        run_dir: the run; its ``summary.json`` names the final model, loaded when ``model`` is None.
        bundle: the data the run trained on.
        cfg: the run's config (batch size, loss).
        model: the trained Keras model still in memory, to skip loading it again.

    Returns:
        ``{"loss": ..., "accuracy": ...}`` (every metric the model was compiled with).
    """
    from aimodel.data.pipeline import make_dataset
    from aimodel.inference.checkpoint import load_model
    from aimodel.training.optim import compile_model, uses_one_hot
    from aimodel.training.records import read_summary

    if model is None:
        model = load_model(run_dir / (read_summary(run_dir).get("final_model") or "best.keras"))
        compile_model(model, cfg.training, task=cfg.task)
    one_hot = bundle.num_classes if uses_one_hot(cfg.training) else None
    out = model.evaluate(make_dataset(bundle.test, cfg.training.batch_size, one_hot=one_hot), verbose=0,
                         return_dict=True)
    return {k: float(v) for k, v in out.items()}


def _outputs(probs: np.ndarray, spec: InputSpec, model_path: Path) -> np.ndarray:
    """The model's outputs ``(N, outputs)``: classes, targets or labels, as meta.json names them."""
    n = len(spec.class_names)
    if task_of(spec).name != "classification" and n == 1 and probs.shape[1] == 2:
        probs = probs[:, 1:]  # one output unit, which the backends widen to [1 - p, p] as for a binary classifier
    if probs.shape[1] != n:
        what = {"regression": "targets", "multilabel": "labels"}.get(task_of(spec).name, "classes")
        raise CheckpointError(f"{model_path}: the model outputs {probs.shape[1]} {what} but its meta.json "
                              f"names {n}")
    return probs


def _score(task: str, y: np.ndarray, outputs: np.ndarray, spec: InputSpec, top_k: int) -> dict:
    """The task's report: see :mod:`aimodel.evaluation.metrics` and :mod:`aimodel.evaluation.task_metrics`."""
    from aimodel.evaluation.task_metrics import multilabel_report, regression_report

    if task == "regression":
        return regression_report(y, outputs, spec.class_names)
    if task == "multilabel":
        return multilabel_report(y, outputs, spec.class_names, thresholds_of(spec))
    return classification_report(y, outputs, spec.class_names, top_k)


def _add_baselines(report: dict, ckpt, spec: InputSpec, ev: EvalData) -> None:
    """Tables and texts: ``baselines.<name>`` fitted on the run's training split, scored on these samples."""
    from aimodel.evaluation.baselines import better, evaluation_baselines

    baselines, why_not = evaluation_baselines(ckpt.run_dir, spec, ev.x, ev.y)
    if baselines is not None:
        report["baselines"] = baselines
        verdict = better(baselines, report, task_of(spec).name)
        if verdict:
            report["baseline_note"] = verdict
    elif why_not:
        report["baseline_note"] = why_not


def _out_dir(run_dir: Optional[Path], ev: EvalData, out: str | Path | None, ckpt=None) -> Path:
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise DataError(f"--out {path}: exists and is not a folder")
        return path
    if ckpt is not None and ckpt.format != "keras":
        # An exported file's reports go beside it, never over the run's own evaluation of best.keras.
        model = ckpt.model_path
        return model.parent / (f"evaluation-{model.name}" + ("" if ev.own_test else f"-{ev.name}"))
    if run_dir is None:
        raise CheckpointError("the model is not in a run directory; pass --out DIR for the reports")
    return run_dir if ev.own_test else run_dir / f"evaluation-{ev.name}"


def _write_reports(out_dir: Path, report: dict, ev: EvalData, probs: np.ndarray, spec: InputSpec,
                   max_error_images: int) -> list[str]:
    """The task's files in ``out_dir``; their names."""
    from aimodel.evaluation.task_reports import write_multilabel_files, write_regression_files

    task = task_of(spec).name
    inputs = ev.inputs or _input_column(ev.x, spec)
    if task == "regression":
        return write_regression_files(out_dir, report, ev.y, probs, ev.description, inputs)
    if task == "multilabel":
        return write_multilabel_files(out_dir, report, ev.y, probs, spec.label_separator or ";", inputs)
    return _write_classification_reports(out_dir, report, ev, probs, spec, max_error_images)


def _write_classification_reports(out_dir: Path, report: dict, ev: EvalData, probs: np.ndarray, spec: InputSpec,
                                  max_error_images: int) -> list[str]:
    from aimodel.evaluation.plots import write_confusion_png, write_errors_png

    names = spec.class_names
    cm = np.asarray(report["confusion_matrix"])
    write_per_class_csv(report, out_dir / "per_class.csv")
    write_confusion_csv(cm, names, out_dir / "confusion_matrix.csv")
    title = f"{ev.description}: {report['samples']} samples, accuracy {report['accuracy']:.4f}"
    write_confusion_png(cm, names, out_dir / "confusion_matrix.png", title)
    wrong = misclassified(ev.y, probs)
    write_errors_csv(wrong, ev.y, probs, names, out_dir / "errors.csv", inputs=ev.inputs or _input_column(ev.x, spec))
    files = ["evaluation.json", "per_class.csv", "confusion_matrix.csv", "confusion_matrix.png", "errors.csv"]
    if spec.kind == "image":
        shown = wrong[:max_error_images]
        pred = probs.argmax(axis=1)
        images = [_image(ev.x[i], spec) for i in shown]
        captions = [f"#{i}: true {names[ev.y[i]]}\npredicted {names[pred[i]]} ({probs[i, pred[i]]:.2f})"
                    for i in shown]
        write_errors_png(images, captions, out_dir / "errors.png",
                         f"most confidently wrong: {len(shown)} of {len(wrong)} errors")
        files.append("errors.png")
    return files


def _input_column(x: Any, spec: InputSpec) -> Optional[list[str]]:
    """What errors.csv shows as each sample's ``input``: the text, or the image's file."""
    if hasattr(x, "absolute"):  # image files streamed by a folder source
        return [str(x.absolute(i)) for i in range(len(x))]
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype.kind in "OUS":
        return [str(v) for v in x]
    return None


def _image(sample: Any, spec: InputSpec) -> np.ndarray:
    if isinstance(sample, np.ndarray) and sample.dtype.kind not in "OUS":
        return sample
    from aimodel.inference.images import prepare_image

    return prepare_image(str(sample), spec, polarity="keep", crop=False)


def _batches(x: Any, spec: InputSpec, batch_size: int) -> Iterator[Any]:
    """Model-ready batches of a split, in order (``Split.x`` layout per data kind)."""
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    for begin in range(0, n, batch_size):
        end = min(n, begin + batch_size)
        if isinstance(x, dict):  # tabular: column -> values
            yield {k: np.asarray(v[begin:end]) for k, v in x.items()}
        elif spec.kind == "text":
            yield np.asarray(x[begin:end], dtype=object)
        elif hasattr(x, "load"):  # image files of a folder source, decoded as training decoded them
            yield x.load(range(begin, end)).astype(np.float32)
        else:
            yield np.asarray(x[begin:end], dtype=np.float32)
