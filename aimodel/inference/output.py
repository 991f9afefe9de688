"""Predictions as JSON or CSV text (the CLI's table lives in ``aimodel.cli_render``)."""

from __future__ import annotations

import csv
import io

from aimodel.inference.predict import PredictResult


def to_json(result: PredictResult) -> dict:
    """``{"model", "failed", "predictions": [{"input", "label", "confidence", "top_k"} | {"input", "error"}]}``."""
    return {"model": str(result.checkpoint.model_path), "failed": result.failed,
            "predictions": [p.to_json() for p in result.predictions]}


def prediction_columns(k: int) -> list[str]:
    cols = ["prediction", "confidence"]
    for i in range(2, k + 1):
        cols += [f"top{i}", f"top{i}_confidence"]
    return cols + ["error"]


def to_csv(result: PredictResult) -> str:
    """One row per input; CSV inputs keep every original cell and get the prediction appended.

    Columns: ``input`` (left out when every row comes from one CSV file, so the
    output is that file plus new columns), the original CSV columns,
    ``prediction, confidence, top2, top2_confidence, ..., error``. A new column
    whose name the CSV already has gets a ``.1`` suffix; nothing is overwritten.
    """
    preds = result.predictions
    sources = {p.source for p in preds}
    with_input = not (len(sources) == 1 and None not in sources)
    original: list[str] = []
    for p in preds:
        original += [c for c in p.columns if c not in original]
    taken = set(original) | ({"input"} if with_input else set())
    added = []
    for col in prediction_columns(result.top_k):
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
        new = ["", ""] + ["", ""] * (result.top_k - 1)
        if p.error is None:
            new[0], new[1] = p.label, f"{p.confidence:.6f}"
            for i, (name, conf) in enumerate(p.top_k[1:], 1):
                new[2 * i], new[2 * i + 1] = name, f"{conf:.6f}"
        writer.writerow(cells + new + [p.error or ""])
    return buf.getvalue()
