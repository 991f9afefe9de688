"""``aimodel data inspect`` on a CSV: one line per column (type, missing cells, values) and text lengths."""

from __future__ import annotations

import numpy as np

from aimodel.data.base import DataBundle
from aimodel.data.missing import MISSING_CATEGORY

#: token-length percentiles shown for a text column
PERCENTILES = (50, 90, 95, 99)


def _splits(bundle: DataBundle):
    return [s for s in (bundle.train, bundle.val, bundle.test) if s is not None and len(s)]


def _numeric(name: str, values: np.ndarray, zero_is_missing: bool) -> dict:
    present = values[~np.isnan(values)]
    row = {"name": name, "type": "numeric", "missing": int(np.isnan(values).sum()),
           "distinct": int(len(np.unique(present)))}
    if present.size:
        row.update(min=float(present.min()), median=float(np.median(present)), max=float(present.max()))
    zeros, positive = int((present == 0).sum()), present[present > 0]
    if zeros and not zero_is_missing and positive.size and (present >= 0).all() \
            and positive.min() >= 0.1 * np.median(positive):
        row["note"] = (f"{zeros} zero(s) in a column otherwise ≥ {positive.min():g}: if 0 means \"not "
                       f"measured\", list it in dataset.zero_means_missing")
    return row


def _categorical(name: str, values: np.ndarray) -> dict:
    missing = values == MISSING_CATEGORY
    return {"name": name, "type": "categorical", "missing": int(missing.sum()),
            "distinct": int(len(set(values[~missing])))}


def _text(name: str, texts: np.ndarray) -> dict:
    lengths = np.array([len(str(t).split()) for t in texts])
    pct = {f"p{p}": int(np.ceil(np.percentile(lengths, p))) for p in PERCENTILES}
    return {"name": name, "type": "text", "missing": int((lengths == 0).sum()),
            "distinct": int(len(set(texts))), "tokens": pct, "sequence_length_95": max(1, pct["p95"])}


def profile_columns(bundle: DataBundle) -> list[dict]:
    """One description per feature column over every split: type, missing cells, distinct values,
    min/median/max and a note on suspicious zeros (numbers); token-length percentiles and the
    ``sequence_length`` keeping 95% of texts whole (text)."""
    spec, splits = bundle.spec, _splits(bundle)
    if spec.kind == "text" and spec.text_column:
        texts = np.concatenate([np.asarray(s.x, dtype=object) for s in splits])
        return [_text(spec.text_column, texts)]
    if spec.kind != "tabular":
        return []
    rows = []
    for col in spec.columns or []:
        name = col["name"] if isinstance(col, dict) else col
        values = np.concatenate([np.asarray(s.x[name]) for s in splits])
        if isinstance(col, dict) and col.get("type") == "numeric":
            rows.append(_numeric(name, values.astype(np.float64), bool(col.get("zero_means_missing"))))
        else:
            rows.append(_categorical(name, values.astype(str)))
    return rows
