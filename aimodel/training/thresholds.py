"""Multilabel decision thresholds (``training.threshold``), chosen after training and saved in meta.json.

``training.threshold: tune`` picks each label's threshold on the validation split: the grid value
(0.05, 0.10 ... 0.95) that gives that label the highest F1 there (a tie goes to the value nearest
0.5). A label that never occurs in the validation split, or a run without one, keeps
:data:`aimodel.tasks.DEFAULT_THRESHOLD`. A number gives every label that threshold.

The thresholds are written into meta.json's input spec (``InputSpec.thresholds``), so evaluate,
predict, export and serve all decide with them (:func:`aimodel.tasks.thresholds_of`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.tasks import DEFAULT_THRESHOLD

log = logging.getLogger(__name__)

#: the thresholds ``tune`` tries
GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def label_f1(truth: np.ndarray, decided: np.ndarray) -> float:
    """F1 of one label's 0/1 decisions (0 when the label neither occurs nor is predicted)."""
    tp = float(np.sum(truth * decided))
    den = float(np.sum(truth) + np.sum(decided))
    return 2 * tp / den if den else 0.0


def choose_thresholds(y: np.ndarray, probs: np.ndarray, grid: tuple[float, ...] = GRID) -> list[float]:
    """Each label's threshold with the best F1 on ``(y, probs)``, both ``(N, L)``; 0.5 for an absent label."""
    y, probs = np.asarray(y, np.float32), np.asarray(probs, np.float32)
    chosen = []
    for j in range(y.shape[1]):
        truth = y[:, j] > 0.5
        if not truth.any():
            chosen.append(DEFAULT_THRESHOLD)
            continue
        scores = [(label_f1(truth, probs[:, j] >= t), -abs(t - DEFAULT_THRESHOLD), t) for t in grid]
        chosen.append(float(max(scores)[2]))
    return chosen


def set_thresholds(cfg: Any, bundle: Any, model: Any, run_dir: Path) -> Optional[str]:
    """After a multilabel run: choose or set the thresholds, save them in meta.json and ``bundle.spec``.

    Returns:
        A note for the user when ``tune`` had no validation split to tune on, else None.
    """
    from aimodel.data.pipeline import make_dataset
    from aimodel.fileio import atomic_write_json, read_json_object

    setting = cfg.training.threshold if cfg.training.threshold is not None else DEFAULT_THRESHOLD
    labels = len(bundle.spec.class_names)
    note = None
    if setting != "tune":
        thresholds = [float(setting)] * labels
    elif bundle.val is None or not len(bundle.val):
        thresholds = [DEFAULT_THRESHOLD] * labels
        note = (f"training.threshold: tune needs a validation split (dataset.validation_split > 0); every label "
                f"keeps the threshold {DEFAULT_THRESHOLD}")
    else:
        probs = model.predict(make_dataset(bundle.val, cfg.training.validation_batch_size), verbose=0)
        thresholds = choose_thresholds(bundle.val.y, np.asarray(probs, np.float32).reshape(len(bundle.val), -1))
    meta_path = Path(run_dir) / "meta.json"
    meta = read_json_object(meta_path)
    meta.setdefault("input", bundle.spec.to_json())["thresholds"] = thresholds
    atomic_write_json(meta_path, meta)
    bundle.spec.thresholds = thresholds
    log.info("multilabel thresholds (%s): %s", setting, thresholds)
    return note
