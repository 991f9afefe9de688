"""Collect what a user passes to ``predict`` into :class:`Item` s, by the model's data kind.

Folders and globs are expanded, CSV files split into rows, ``--text`` strings
taken as they are; a file of the wrong modality for the model becomes an item
with an error, so the other inputs are still predicted. Turning items into
model-ready batches is :mod:`aimodel.inference.prepare`.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from aimodel.data.files import (FOLDER_SUFFIXES, IMAGE_SUFFIXES, SEQUENCE_SUFFIXES, SHEET_SUFFIXES, TABLE_SUFFIXES,
                                TEXT_SUFFIXES, Table, read_csv)
from aimodel.data.spec import InputSpec
from aimodel.errors import DataError

WHAT = {"image": "image files", "text": "text files (.txt), CSV files or --text strings",
        "tabular": "CSV files (one row per sample)", "sequence": ".npy files of shape (T, F) or (N, T, F)"}


@dataclass
class Item:
    """One thing to predict, or the reason it cannot be."""

    name: str
    value: Any = None
    error: Optional[str] = None
    #: the CSV row it came from (original cells, kept for the output) and that CSV's path
    row: Optional[dict] = None
    source: Optional[str] = None
    #: the CSV's column order, so the output keeps it
    columns: list[str] = field(default_factory=list)


def collect_items(paths: Sequence[str | Path], texts: Sequence[str], spec: InputSpec,
                  column: Optional[str] = None) -> list[Item]:
    """Expand folders, globs and CSV files into items, in the order given.

    Args:
        paths: files, folders (searched recursively) and glob patterns.
        texts: raw strings (``--text``), for text models.
        spec: the model's input spec; ``spec.kind`` decides what each file is.
        column: for text models, the CSV column holding the text.
    """
    items: list[Item] = []
    for raw in paths:
        for path, error in _expand(str(raw), spec.kind):
            if error:
                items.append(Item(name=str(raw), error=error))
            else:
                items.extend(_file_items(path, spec, column))
    for i, text in enumerate(texts, 1):
        item = Item(name=f"--text {i}" if len(texts) > 1 else "--text", value=text)
        if spec.kind != "text":
            item.error = f"--text: this model takes {spec.kind} inputs ({WHAT[spec.kind]}), not text"
        items.append(item)
    return items


def _expand(raw: str, kind: str) -> list[tuple[Optional[Path], Optional[str]]]:
    path = Path(raw).expanduser()
    if path.is_dir():
        return _folder(path, kind)
    if not path.exists() and glob.has_magic(raw):
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches:
            return [(None, f"{raw}: no files match this pattern")]
        out: list = []
        for m in matches:
            out.extend(_folder(Path(m), kind) if Path(m).is_dir() else [(Path(m), None)])
        return out
    return [(path, None)]  # missing files are reported when read, in input order


def _folder(folder: Path, kind: str) -> list[tuple[Optional[Path], Optional[str]]]:
    suffixes = FOLDER_SUFFIXES[kind]
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        return [(None, f"{folder}: no {' / '.join(suffixes[:4])}... files in this folder (searched recursively)")]
    return [(p, None) for p in files]


def _file_items(path: Path, spec: InputSpec, column: Optional[str]) -> list[Item]:
    kind, suffix = spec.kind, path.suffix.lower()
    name = str(path)
    if suffix in TABLE_SUFFIXES + SHEET_SUFFIXES and path.is_file():
        if kind not in ("tabular", "text"):
            return [Item(name, error=f"{path}: a table; this model takes {WHAT[kind]}")]
        return _csv_items(path, spec, column)
    if not path.exists():
        return [Item(name, error=f"{path}: file not found")]
    if kind == "image":
        if suffix in TEXT_SUFFIXES + SEQUENCE_SUFFIXES:
            return [Item(name, error=f"{path}: not an image; this model takes {WHAT[kind]}")]
        return [Item(name, value=path)]
    if kind == "text":
        if suffix in IMAGE_SUFFIXES:
            return [Item(name, error=f"{path}: an image; this model takes {WHAT[kind]}")]
        return [Item(name, value=path)]
    if kind == "sequence" and suffix in SEQUENCE_SUFFIXES:
        return _npy_items(path, spec)
    return [Item(name, error=f"{path}: not one of the inputs this {kind} model takes ({WHAT[kind]})")]


def _csv_items(path: Path, spec: InputSpec, column: Optional[str]) -> list[Item]:
    return table_items(lambda: read_csv(path, None, *spec.text_encoding(), spec.csv_layout()), str(path), spec,
                       column)


def table_items(read: Callable[[], Table], name: str, spec: InputSpec, column: Optional[str]) -> list[Item]:
    """One item per row of the table ``read()`` returns (named ``name:line``), or one item with the error.

    Args:
        read: reads the table (a CSV file, or an upload's bytes); may raise :class:`DataError`.
        name: the table's name in items and messages.
    """
    try:
        table = read()
        fields, rows = table.header, table.records()
        if spec.kind == "text":
            column = text_column(fields, spec, column, name)
            values = [(row.get(column) or "").strip() for _, row in rows]
        else:
            missing = [c for c in column_names(spec) if c not in fields]
            if missing:
                raise DataError(f"{name}: missing column(s) {', '.join(missing)} that the model was trained on; "
                                f"the file has: {', '.join(fields)}")
            values = [row for _, row in rows]
    except DataError as exc:
        return [Item(name, error=str(exc))]
    return [Item(f"{name}:{line}", value=value, row=row, source=name, columns=fields)
            for (line, row), value in zip(rows, values)]


def text_column(fields: list[str], spec: InputSpec, column: Optional[str], path: Path | str) -> str:
    """The CSV column with the text: ``--column``, the one trained on, ``text``, or the only one."""
    if column:
        if column in fields:
            return column
        raise DataError(f"{path}: no column '{column}'; the file has: {', '.join(fields)}")
    for candidate in (spec.text_column, "text"):
        if candidate and candidate in fields:
            return candidate
    if len(fields) == 1:
        return fields[0]
    raise DataError(f"{path}: which column holds the text? pass --column NAME (the file has: {', '.join(fields)})")


def _npy_items(path: Path, spec: InputSpec) -> list[Item]:
    return array_items(path, str(path), spec)


def array_items(source: Any, name: str, spec: InputSpec) -> list[Item]:
    """A ``.npy`` file (a path or a binary file object named ``name``): one item, or one per row of a stack."""
    try:
        arr = np.load(source, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return [Item(name, error=f"{name}: not a readable .npy file ({type(exc).__name__})")]
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        if hasattr(arr, "close"):
            arr.close()
        return [Item(name, error=f"{name}: not a .npy file of numbers")]
    want = tuple(spec.shape)
    if arr.shape == want:
        return [Item(name, value=arr)]
    if arr.ndim == len(want) + 1 and arr.shape[1:] == want:
        return [Item(f"{name}[{i}]", value=a) for i, a in enumerate(arr)]
    return [Item(name, error=f"{name}: shape {arr.shape}; the model takes {want} or (N, *{want})")]


def column_names(spec: InputSpec) -> list[str]:
    """The trained feature columns, in order (``spec.columns``: names, ``{"name", "type"}`` dicts or a mapping)."""
    declared = spec.columns or []
    if isinstance(declared, dict):
        return list(declared)
    return [c if isinstance(c, str) else str(c.get("name")) for c in declared]
