"""CSV files: a label column plus numeric and categorical feature columns, or one text column.

Tabular ``Split.x`` is a dict column → 1-D array (float32 for numeric columns,
``str`` objects for categorical ones) and ``InputSpec.columns`` lists the
features in order; the model's preprocessing layers (normalization, lookup)
are adapted on the training split. With ``dataset.text_column`` the data kind
is text instead (``Split.x`` is that column's strings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator, model_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, finish_bundle, stratified_split
from aimodel.data.files import UndecodableText, read_csv
from aimodel.data.npz import absolute_path
from aimodel.data.spec import InputSpec
from aimodel.data.options import EncodingOptions, TextOptions
from aimodel.errors import DataError


class CsvDataset(EncodingOptions, TextOptions, DatasetBase):
    """A CSV file (or a train and a test file) with a header row and a label column."""

    name: Literal["csv"] = "csv"
    path: Optional[FilePath] = Field(None, description="One CSV file, split by dataset.test_split.")
    train_path: Optional[FilePath] = Field(None, description="Training CSV (instead of path).")
    test_path: Optional[FilePath] = Field(
        None, description="Test CSV beside train_path (same columns); without it the test split is carved from train."
    )
    label: str = Field(..., description="Column holding the class of each row.")
    features: Optional[list[str]] = Field(
        None, description="Feature columns to use; default: every column but the label."
    )
    categorical: list[str] = Field(
        [], description="Columns to treat as categories even if their values look numeric (others: inferred; "
        "a column with any non-numeric value is categorical)."
    )
    text_column: Optional[str] = Field(
        None, description="Classify this column's text instead of using feature columns (text kind)."
    )
    test_split: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out as the test split (stratified, seeded).")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator.")

    _abs = field_validator("path", "train_path", "test_path")(absolute_path)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.train_path is None):
            raise ValueError("give either dataset.path (one file) or dataset.train_path (with optional test_path)")
        if self.test_path is not None and self.train_path is None:
            raise ValueError("dataset.test_path needs dataset.train_path (use train_path instead of path)")
        if self.text_column is not None and (self.features or self.categorical):
            raise ValueError("dataset.text_column classifies text; it cannot be combined with "
                             "dataset.features or dataset.categorical")
        return self


def _column(path: Path, header: list[str], rows, name: str, what: str) -> list[str]:
    if name not in header:
        from aimodel.registry import did_you_mean

        raise DataError(f"{path}: no column '{name}' ({what}){did_you_mean(name, header)}; "
                        f"columns: {', '.join(header)}")
    i = header.index(name)
    return [row[i].strip() for row in rows]


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def _class_names(labels: list[str]) -> list[str]:
    unique = sorted(set(labels))
    if all(_is_number(v) for v in unique):
        unique.sort(key=float)
    return unique


def _read(path: Path, cfg: CsvDataset):
    try:
        return read_csv(path, cfg.delimiter, cfg.encoding, cfg.encoding_errors)
    except UndecodableText as exc:
        raise DataError(f"{exc}; {UndecodableText.HINT}") from None


@DATASETS.register("csv")
def load_csv(cfg: CsvDataset, seed: int):
    import numpy as np

    train_file = cfg.path or cfg.train_path
    train_table = _read(train_file, cfg)
    header, rows = train_table.header, train_table.rows
    train_labels = _column(train_file, header, rows, cfg.label, "dataset.label")
    empty = [i for i, v in enumerate(train_labels) if v == ""]
    if empty:
        raise DataError(f"{train_file}: row {empty[0] + 2} has an empty '{cfg.label}' (the label column)")
    names = _class_names(train_labels)
    if cfg.text_column is not None:
        features = [cfg.text_column]
        kinds = {}
    else:
        features = cfg.features if cfg.features is not None else [h for h in header if h != cfg.label]
        if cfg.label in features:
            raise DataError(f"dataset.features: lists the label column '{cfg.label}'")
        if not features:
            raise DataError(f"{train_file}: no feature columns beside the label '{cfg.label}'")
        for col in cfg.categorical:
            if col not in features:
                raise DataError(f"dataset.categorical: '{col}' is not a feature column ({', '.join(features)})")
        kinds = {}
        for col in features:
            values = _column(train_file, header, rows, col, "dataset.features")
            numeric = col not in cfg.categorical and all(_is_number(v) for v in values if v != "")
            kinds[col] = "numeric" if numeric else "categorical"

    def table(path: Path, header, rows):
        labels = _column(path, header, rows, cfg.label, "dataset.label")
        unseen = sorted(set(labels) - set(names))
        if unseen:
            shown = ", ".join(repr(v) for v in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
            raise DataError(f"{path}: column '{cfg.label}' has label(s) {shown} that never occur in the training data")
        y = np.array([names.index(v) for v in labels], np.int64)
        if cfg.text_column is not None:
            x = np.empty(len(rows), dtype=object)
            x[:] = _column(path, header, rows, cfg.text_column, "dataset.text_column")
            return Split(x, y)
        x = {}
        for col in features:
            values = _column(path, header, rows, col, "dataset.features")
            if kinds[col] == "numeric":
                bad = [i for i, v in enumerate(values) if not _is_number(v)]
                if bad:
                    raise DataError(
                        f"{path}: row {bad[0] + 2}, column '{col}': {values[bad[0]]!r} is not a number (the "
                        f"column is numeric in the training data; fill missing values or list it in dataset.categorical)"
                    )
                x[col] = np.array([float(v) for v in values], np.float32)
                if not np.isfinite(x[col]).all():
                    raise DataError(f"{path}: column '{col}' holds NaN or infinite values")
            else:
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                x[col] = arr
        return Split(x, y)

    train = table(train_file, header, rows)
    if cfg.test_path is not None:
        test_table = _read(cfg.test_path, cfg)
        test = table(cfg.test_path, test_table.header, test_table.rows)
    else:
        train, test = stratified_split(train.x, train.y, cfg.test_split, seed, "dataset.test_split")
    if cfg.text_column is not None:
        spec = InputSpec(kind="text", shape=(), class_names=names, max_tokens=cfg.max_tokens,
                         sequence_length=cfg.sequence_length, text_column=cfg.text_column,
                         label_column=cfg.label, encoding=cfg.encoding, encoding_errors=cfg.encoding_errors)
    else:
        spec = InputSpec(kind="tabular", shape=(len(features),), class_names=names,
                         columns=[{"name": c, "type": kinds[c]} for c in features], label_column=cfg.label,
                         encoding=cfg.encoding, encoding_errors=cfg.encoding_errors)
    notes = {"source": "csv", "files": [str(train_file)] + ([str(cfg.test_path)] if cfg.test_path else [])}
    return finish_bundle(train, test, names, cfg.validation_split, seed, spec=spec, notes=notes)
