"""Predictions as JSON or CSV text (the CLI's table lives in ``aimodel.cli_render``)."""

from __future__ import annotations

import csv
import io

from aimodel.inference.answers import Answer, ClassAnswer
from aimodel.inference.predict import PredictResult


def to_json(result: PredictResult) -> dict:
    """``{"model", "task", "failed", "predictions": [...]}``; each prediction is ``{"input", "error"}`` or, per task,
    ``{"input", "label", "confidence", "top_k"}``, ``{"input", "value"}`` or ``{"input", "labels", "probabilities"}``.
    """
    return {"model": str(result.checkpoint.model_path), "task": _answer(result).task, "failed": result.failed,
            "predictions": [p.to_json() for p in result.predictions]}


def _answer(result: PredictResult) -> Answer:
    return result.answer or ClassAnswer()


def prediction_columns(result: PredictResult) -> list[str]:
    """The columns CSV output appends to each row: the task's answer columns, then ``error``."""
    return _answer(result).csv_columns(result.top_k) + ["error"]


def to_csv(result: PredictResult) -> str:
    """One row per input; CSV inputs keep every original cell and get the prediction appended.

    Columns: ``input`` (left out when every row comes from one CSV file, so the
    output is that file plus new columns), the original CSV columns, the task's
    answer, then ``error``. Classification: ``prediction, confidence, top2,
    top2_confidence, ...``; regression: ``prediction`` (one target) or
    ``prediction_<target>`` per target; multilabel: ``prediction`` (the label set,
    joined by the ``dataset.label_separator`` the model was trained with) and
    ``probability_<label>`` per label. A new column whose name the CSV already has
    gets a ``.1`` suffix; nothing is overwritten.
    """
    preds = result.predictions
    answer = _answer(result)
    sources = {p.source for p in preds}
    with_input = not (len(sources) == 1 and None not in sources)
    original: list[str] = []
    for p in preds:
        original += [c for c in p.columns if c not in original]
    taken = set(original) | ({"input"} if with_input else set())
    added = []
    for col in prediction_columns(result):
        name = col
        while name in taken:
            name += ".1"
        taken.add(name)
        added.append(name)
    header = (["input"] if with_input else []) + original + added
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for p in preds:
        cells = [p.input] if with_input else []
        cells += [(p.row or {}).get(c, "") for c in original]
        writer.writerow(cells + answer.csv_cells(p, result.top_k) + [p.error or ""])
    return buf.getvalue()
