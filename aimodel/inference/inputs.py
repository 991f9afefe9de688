"""Turn what a user passes to ``predict`` into model-ready batches, by data kind.

Command-line inputs become :class:`Item` s first (folders and globs expanded,
CSV files split into rows, ``--text`` strings taken as they are); a file of
the wrong modality for the model becomes an item with an error, so the other
inputs are still predicted. Then each kind's :class:`Preparer` turns an item
into one raw sample (an image file into float32 pixels, a text file into a
string, a CSV row into typed cells) and stacks samples into a batch for
:meth:`ModelBackend.predict_proba`.
"""

from __future__ import annotations

import csv
import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from aimodel.data.base import InputSpec
from aimodel.errors import AimodelError, DataError
from aimodel.registry import Registry

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
TABLE_SUFFIXES = (".csv", ".tsv")
TEXT_SUFFIXES = (".txt", ".text", ".md")
SEQUENCE_SUFFIXES = (".npy",)
#: what a folder is searched for, by the model's data kind
FOLDER_SUFFIXES = {"image": IMAGE_SUFFIXES, "text": TEXT_SUFFIXES, "tabular": TABLE_SUFFIXES,
                   "sequence": SEQUENCE_SUFFIXES}
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
    if suffix in TABLE_SUFFIXES and path.is_file():
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


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            sample = f.read(65536)
            f.seek(0)
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = csv.DictReader(f, delimiter=delimiter)
            if not sample.strip() or reader.fieldnames is None:
                raise DataError(f"{path}: empty CSV file (expected a header row)")
            rows = []
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{reader.line_num}: more cells than header columns")
                rows.append((reader.line_num, row))
            return list(reader.fieldnames), rows
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _csv_items(path: Path, spec: InputSpec, column: Optional[str]) -> list[Item]:
    try:
        fields, rows = _read_csv(path)
        if not rows:
            raise DataError(f"{path}: no data rows under the header")
        if spec.kind == "text":
            column = text_column(fields, spec, column, path)
            values = [(row.get(column) or "").strip() for _, row in rows]
        else:
            missing = [c for c in column_names(spec) if c not in fields]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)} that the model was trained on; "
                                f"the file has: {', '.join(fields)}")
            values = [row for _, row in rows]
    except DataError as exc:
        return [Item(str(path), error=str(exc))]
    return [Item(f"{path}:{line}", value=value, row=row, source=str(path), columns=fields)
            for (line, row), value in zip(rows, values)]


def text_column(fields: list[str], spec: InputSpec, column: Optional[str], path: Path) -> str:
    """The CSV column with the text: ``--column``, the one trained on, ``text``, or the only one."""
    if column:
        if column in fields:
            return column
        raise DataError(f"{path}: no column '{column}'; the file has: {', '.join(fields)}")
    for candidate in (getattr(spec, "text_column", None), "text"):
        if candidate and candidate in fields:
            return candidate
    if len(fields) == 1:
        return fields[0]
    raise DataError(f"{path}: which column holds the text? pass --column NAME (the file has: {', '.join(fields)})")


def _npy_items(path: Path, spec: InputSpec) -> list[Item]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        return [Item(str(path), error=f"{path}: not a readable .npy file ({type(exc).__name__})")]
    want = tuple(spec.shape)
    if arr.shape == want:
        return [Item(str(path), value=arr)]
    if arr.ndim == len(want) + 1 and arr.shape[1:] == want:
        return [Item(f"{path}[{i}]", value=a) for i, a in enumerate(arr)]
    return [Item(str(path), error=f"{path}: shape {arr.shape}; the model takes {want} or (N, *{want})")]


# --- preparation, one class per data kind ------------------------------------------------------

#: data kind -> Preparer class
PREPARERS: Registry[type] = Registry("data kind")


class Preparer:
    """Turns one item into one raw sample (``prepare``) and samples into a batch (``stack``).

    ``prepare`` raises :class:`DataError` for an input it cannot use; that input
    gets the message as its error and the batch goes on without it.
    """

    def __init__(self, spec: InputSpec, input_dtypes: dict[str, str], **options):
        self.spec = spec
        self.input_dtypes = input_dtypes
        self.options = options

    def prepare(self, item: Item):
        raise NotImplementedError

    def prepare_all(self, items: list[Item]) -> list[tuple[Any, Optional[str]]]:
        """``(sample, None)`` or ``(None, error message)`` for each item, in order."""
        return [self._try(item) for item in items]

    def _try(self, item: Item) -> tuple[Any, Optional[str]]:
        try:
            return self.prepare(item), None
        except AimodelError as exc:
            return None, str(exc)

    def stack(self, samples: list):
        return np.stack(samples)


@PREPARERS.register("image")
class ImagePreparer(Preparer):
    """Image files -> float32 pixels shaped and coloured like the training images."""

    def prepare(self, item: Item):
        from aimodel.inference.images import prepare_image

        return prepare_image(item.value, self.spec, polarity=self.options.get("polarity", "auto"),
                             crop=self.options.get("crop", True)).astype(np.float32)

    def stack(self, samples):
        return np.stack(samples).astype(np.float32, copy=False)


@PREPARERS.register("text")
class TextPreparer(Preparer):
    """Text files, CSV cells and ``--text`` strings -> one raw string each (the model tokenizes)."""

    def prepare(self, item: Item):
        text = item.value
        if isinstance(text, Path):
            try:
                text = text.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                raise DataError(f"{text}: file not found") from None
            except UnicodeDecodeError:
                raise DataError(f"{text}: not a UTF-8 text file") from None
            except OSError as exc:
                raise DataError(f"{text}: cannot read ({exc.strerror or exc})") from None
        if not str(text).strip():
            raise DataError(f"{item.name}: empty text")
        return str(text)

    def stack(self, samples):
        return np.asarray(samples, dtype=object)


def column_names(spec: InputSpec) -> list[str]:
    """The trained feature columns, in order (``spec.columns``: names, ``{"name", "type"}`` dicts or a mapping)."""
    declared = getattr(spec, "columns", None) or []
    if isinstance(declared, dict):
        return list(declared)
    return [c if isinstance(c, str) else str(c.get("name")) for c in declared]


def column_kinds(spec: InputSpec, input_dtypes: dict[str, str]) -> dict[str, str]:
    """Column -> ``numeric`` or ``categorical``, from the spec or else from the model's input dtypes."""
    declared = getattr(spec, "columns", None) or list(input_dtypes)
    if isinstance(declared, dict):
        declared = [{"name": k, "type": v} for k, v in declared.items()]
    kinds = {}
    for item in declared:
        name = item if isinstance(item, str) else str(item.get("name"))
        given = None if isinstance(item, str) else (item.get("type") or item.get("kind"))
        if given is None:  # Keras input names replace "/" (not allowed in names)
            given = "categorical" if input_dtypes.get(name.replace("/", "_")) == "string" else "numeric"
        kinds[name] = "categorical" if given in ("categorical", "category", "string", "str") else "numeric"
    return kinds


@PREPARERS.register("tabular")
class TabularPreparer(Preparer):
    """CSV rows -> typed cells of the trained columns: float32 for numeric inputs, str for categorical."""

    def __init__(self, spec, input_dtypes, **options):
        super().__init__(spec, input_dtypes, **options)
        self.kinds = column_kinds(spec, input_dtypes)

    def columns(self) -> list[str]:
        return list(self.kinds)

    def prepare(self, item: Item):
        if not isinstance(item.value, dict):
            raise DataError(f"{item.name}: tabular models take CSV rows")
        out = {}
        for col in self.columns():
            cell = item.value.get(col)
            if cell is None:
                raise DataError(f"{item.name}: missing column '{col}'")
            cell = cell.strip()  # as the CSV source reads training cells
            if self.kinds[col] == "categorical":
                out[col] = cell
                continue
            try:
                value = float(cell)
            except ValueError:
                shown = repr(cell) if cell.strip() else "empty"
                raise DataError(f"{item.name}: column '{col}' must be a number, got {shown}") from None
            if not np.isfinite(value):
                raise DataError(f"{item.name}: column '{col}' is {cell}")
            out[col] = value
        return out

    def stack(self, samples):
        cols = self.columns()
        return {c: np.asarray([s[c] for s in samples],
                              dtype=object if self.kinds[c] == "categorical" else np.float32) for c in cols}


@PREPARERS.register("sequence")
class SequencePreparer(Preparer):
    """``.npy`` arrays -> float32 ``(T, F)``."""

    def prepare(self, item: Item):
        arr = np.asarray(item.value, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise DataError(f"{item.name}: contains NaN or infinite values")
        return arr

    def stack(self, samples):
        return np.stack(samples).astype(np.float32, copy=False)


def make_preparer(spec: InputSpec, input_dtypes: dict[str, str], **options) -> Preparer:
    return PREPARERS.get(spec.kind)(spec, input_dtypes, **options)
