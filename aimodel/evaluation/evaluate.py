"""Evaluate a trained model on the test split its run was trained with."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from aimodel.errors import CheckpointError, DataError
from aimodel.fileio import atomic_write_json
from aimodel.inference.checkpoint import load_model, resolve_checkpoint


def evaluate(checkpoint: str | Path, *, batch_size: int = 256) -> dict:
    """Rebuild the run's test split, score the model and write ``evaluation.json``.

    Args:
        checkpoint: a run directory or a ``.keras`` file inside one.

    Returns:
        The report: loss, accuracy, per-class precision/recall/F1/support,
        confusion matrix, and which model and split were used.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

    from aimodel.config import load_config
    from aimodel.data import load_data
    from aimodel.data.base import fingerprint
    from aimodel.data.pipeline import make_inputs
    from aimodel.data.records import recorded_test_split

    ckpt = resolve_checkpoint(checkpoint)
    if ckpt.run_dir is None or not (ckpt.run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"{checkpoint}: evaluate needs the run directory (config.yaml and meta.json beside the model) "
            "to rebuild the test split"
        )
    cfg = load_config(ckpt.run_dir / "config.yaml")
    # File sources list their test files in split.json; others rebuild the seeded split.
    test = recorded_test_split(ckpt.run_dir, cfg, ckpt.spec) if ckpt.spec is not None else None
    if test is None:
        bundle = load_data(cfg.dataset, cfg.seed)
        test, names = bundle.test, bundle.spec.class_names
    else:
        names = ckpt.spec.class_names
    expected = ckpt.meta.get("test_fingerprint")
    if expected and fingerprint(test) != expected:
        raise DataError(
            f"the test split rebuilt from {ckpt.run_dir / 'config.yaml'} differs from the one this run was "
            "trained beside (the data file changed?); refusing to report a score on different data"
        )
    model = load_model(ckpt.model_path)
    start = time.perf_counter()
    probs = np.asarray(model.predict(make_inputs(test, batch_size), verbose=0))
    seconds = time.perf_counter() - start
    y = test.y
    labels = list(range(len(names)))
    pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    report = {
        "model": str(ckpt.model_path),
        "split": "test",
        "samples": int(len(y)),
        "loss": round(float(log_loss(y, np.clip(probs, 1e-7, 1.0), labels=labels)), 6),
        "accuracy": round(float(accuracy_score(y, pred)), 6),
        "per_class": [
            {"class": names[i], "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
             "f1": round(float(f1[i]), 4), "support": int(support[i])}
            for i in labels
        ],
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "seconds": round(seconds, 3),
    }
    atomic_write_json(ckpt.run_dir / "evaluation.json", report)
    report["written_to"] = str(ckpt.run_dir / "evaluation.json")
    return report
