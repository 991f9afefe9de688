"""Labelled evaluation data from files, read exactly as ``predict`` reads them.

``--data FOLDER``: ``FOLDER/<class name>/<files>`` (searched recursively; image
files for image models, ``.txt`` for text models; classification only). ``--data FILE.csv``:
one row per sample with the answer's column(s) (tabular and text models, and image models trained on
a CSV's ``dataset.image_column``: the same column of image paths): a class, a label set (multilabel,
``dataset.label_separator``), or a number per regression target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from aimodel.data.spec import InputSpec
from aimodel.errors import DataError
from aimodel.data.files import FOLDER_SUFFIXES, read_csv, table_delimiter
from aimodel.evaluation.labels import align_labels
from aimodel.inference.collect import Item, column_names, text_column
from aimodel.inference.prepare import make_preparer
from aimodel.tasks import task_of

#: bad files listed in the error message
SHOWN = 5


def _prepare(items: list[Item], spec: InputSpec, input_dtypes: dict[str, str], what: str):
    preparer = make_preparer(spec, input_dtypes)
    prepared = preparer.prepare_all(items)
    bad = [error for _, error in prepared if error]
    if bad:
        more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
        raise DataError(f"{what}: {len(bad)} input(s) cannot be used{more}: " + "; ".join(bad[:SHOWN]))
    x = preparer.stack([sample for sample, _ in prepared])
    if spec.kind == "image":  # the Split layout: uint8 pixels
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x


def read_class_folders(folder: Path, spec: InputSpec, input_dtypes: dict[str, str]):
    """Samples, labels in the model's class order (classes matched by folder name), and file names."""
    what = f"--data {folder}"
    suffixes = FOLDER_SUFFIXES.get(spec.kind)
    if spec.kind not in ("image", "text"):
        raise DataError(f"{what}: class folders hold images or .txt files; this model takes {spec.kind} data")
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    items, labels, names = [], [], []
    for d in classes:
        files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                       and not any(part.startswith(".") for part in p.relative_to(d).parts))
        if not files:
            continue
        names.append(d.name)
        items += [Item(str(p), value=p) for p in files]
        labels += [len(names) - 1] * len(files)
    if not items:
        raise DataError(f"{what}: expected {folder}/<class name>/<files> ({' '.join(suffixes)}); found none")
    y = align_labels(np.asarray(labels, np.int64), names, spec.class_names, what)
    return _prepare(items, spec, input_dtypes, what), y, [i.name for i in items]


def _label_columns(spec: InputSpec, label: Optional[str]) -> list[str]:
    """The CSV columns that hold the answer: the class or label-set column, or every regression target."""
    task = task_of(spec).name
    if task != "regression":
        return [label or spec.label_column or "label"]
    targets = list(spec.class_names)
    if label is None:
        return targets
    if len(targets) > 1:
        raise DataError(f"--label {label}: the model has {len(targets)} targets ({', '.join(targets)}); "
                        "the CSV needs a column for each, named as in training (leave out --label)")
    return [label]


def _answers(path: Path, rows: list, columns: list[str], spec: InputSpec) -> np.ndarray:
    """``y`` in the model's layout for the task: class indices, target values or multi-hot label sets."""
    from aimodel.data import targets

    task = task_of(spec).name
    if task == "regression":
        commas = table_delimiter(path.name, None, spec.csv_layout()) == ","
        return targets.number_targets(path, {c: [row[c] for _, row in rows] for c in columns},
                                      [line for line, _ in rows], commas)
    label = columns[0]
    if task == "multilabel":
        separator = spec.label_separator or ";"
        sets = [targets.split_labels(row[label], separator) for _, row in rows]
        return targets.multi_hot(sets, list(spec.class_names), path)
    values = [row[label].strip() for _, row in rows]
    if any(not v for v in values):
        line = next(line for (line, _), v in zip(rows, values) if not v)
        raise DataError(f"{path}:{line}: empty label")
    if spec.label_values:  # coded labels (dataset.class_names): a code stands for its class's name
        codes = dict(zip(spec.label_values, spec.class_names))
        values = [codes.get(v, v) for v in values]
    names = sorted(set(values))
    return align_labels(np.asarray([names.index(v) for v in values], np.int64), names, spec.class_names,
                        f"--data {path}")


def read_labelled_csv(path: Path, spec: InputSpec, input_dtypes: dict[str, str], label: Optional[str]):
    """Rows of a CSV with the answer's column(s): samples, labels in the model's layout, and row names.

    Args:
        label: the class (or label-set) column; regression: the target column of a one-target model.
            Default: the training's column(s) (``spec.label_column``; every target), else ``label``.
    """
    what = f"--data {path}"
    if spec.kind not in ("tabular", "text") and not (spec.kind == "image" and spec.image_column):
        raise DataError(f"{what}: CSV files hold tables, texts or the paths of images (a model trained with "
                        f"dataset.image_column); this model takes {spec.kind} data from files: pass a folder of "
                        "class folders")
    table = read_csv(path, None, *spec.text_encoding(), spec.csv_layout())
    fields, rows = table.header, table.records()
    columns = _label_columns(spec, label)
    absent = [c for c in columns if c not in fields]
    if absent:
        raise DataError(f"{what}: no label column '{absent[0]}' (pass --label NAME); the file has: "
                        f"{', '.join(fields)}")
    if spec.missing_values is not None:  # as training: rows without a label are left out
        from aimodel.data.missing import MissingCells

        cells = MissingCells(spec.missing_values)
        no_label_is_empty = task_of(spec).name == "multilabel"  # an empty cell: no label, not a missing one
        rows = [(line, row) for line, row in rows
                if not any(cells.missing(row[c]) and not (no_label_is_empty and not row[c].strip()) for c in columns)]
        if not rows:
            raise DataError(f"{what}: the label column '{columns[0]}' is missing in every row")
    if spec.kind == "image":
        items = _image_items(path, fields, rows, spec.image_column)
    elif spec.kind == "text":
        column = text_column([f for f in fields if f not in columns], spec, None, path)
        items = [Item(f"{path}:{line}", value=(row.get(column) or "").strip()) for line, row in rows]
    else:
        missing = [c for c in column_names(spec) if c not in fields]
        if missing:
            raise DataError(f"{what}: missing column(s) {', '.join(missing)} that the model was trained on")
        items = [Item(f"{path}:{line}", value=row) for line, row in rows]
    y = _answers(path, rows, columns, spec)
    return _prepare(items, spec, input_dtypes, what), y, [i.name for i in items]


def _image_items(path: Path, fields: list[str], rows: list, column: str) -> list[Item]:
    """The images a CSV's image column names (as in training: relative to the CSV's folder, or absolute),
    named by their files."""
    if column not in fields:
        raise DataError(f"--data {path}: no image column '{column}' (the model was trained on the image paths "
                        f"of dataset.image_column: {column}); the file has: {', '.join(fields)}")
    items = []
    for line, row in rows:
        cell = (row.get(column) or "").strip()
        if not cell:
            raise DataError(f"{path}: line {line}, column '{column}': no image path in the cell")
        file = path.parent / cell
        items.append(Item(str(file), value=file))
    return items
