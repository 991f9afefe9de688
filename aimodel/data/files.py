"""File kinds and the CSV reader, shared by training sources and by evaluate/predict.

One list of suffixes per data kind, so a folder that trains is a folder that
predicts, and one CSV reader, so a table reads the same in both.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Union

from aimodel.compat import is_text_codec
from aimodel.data.missing import MissingCells, is_number
from aimodel.errors import DataError

#: Every format Pillow decodes that aimodel reads as an image (training folders and predict alike).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
TEXT_SUFFIXES = (".txt", ".text")
TABLE_SUFFIXES = (".csv", ".tsv")
#: Spreadsheets, read as tables (first sheet, or ``dataset.sheet``) by train, evaluate --data and predict.
SHEET_SUFFIXES = (".xlsx", ".xlsm")
SEQUENCE_SUFFIXES = (".npy",)
#: what a folder is searched for, by data kind
FOLDER_SUFFIXES = {"image": IMAGE_SUFFIXES, "text": TEXT_SUFFIXES, "tabular": TABLE_SUFFIXES + SHEET_SUFFIXES,
                   "sequence": SEQUENCE_SUFFIXES}


def _unreadable(path: Path, exc: OSError, what: str) -> DataError:
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{path}: file not found")
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{path}: is a directory, not {what}")
    return DataError(f"{path}: cannot read ({exc.strerror or exc})")


#: ``dataset.encoding`` / ``InputSpec.encoding``: "auto" or any Python codec name (utf-8, cp1252, latin-1, ...).
AUTO = "auto"
#: When several encodings explain a file's bytes equally well, this one wins: Windows-1252 is by far
#: the most common legacy encoding of Western text, and the detector cannot tell it apart from its
#: neighbours (cp1250, cp1257, ...) on a short text.
PREFERRED_LEGACY = "cp1252"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UndecodableText(DataError):
    """Bytes that are not text in the encoding asked for (the message names the file and line)."""

    #: what a dataset config can do about it (sources append it to the message)
    HINT = ("set dataset.encoding to the file's encoding (auto detects it; cp1252 is common for files "
            "from Windows), or dataset.encoding_errors: replace to replace the bad bytes")


def check_encoding(name: str) -> str:
    """``name`` if it is "auto" or a text codec Python knows; raises ValueError (for config validation) otherwise."""
    if name == AUTO:
        return name
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (use auto, utf-8, cp1252, latin-1, ... any Python codec)") from None
    if not is_text_codec(info):
        raise ValueError(f"{name!r} is not a text encoding")
    return name


def detect_encoding(data: bytes) -> Optional[str]:
    """The encoding of ``data``: UTF-8 (or the UTF-16/32 its byte-order mark names) when it fits,
    else the best guess of charset-normalizer; None when no text encoding fits (binary data)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    tied = [m for m in matches if abs(m.chaos - best.chaos) < 1e-6 and abs(m.coherence - best.coherence) < 1e-6]
    if any(PREFERRED_LEGACY in m.could_be_from_charset for m in tied):
        return PREFERRED_LEGACY
    return best.encoding


def decode_text(data: bytes, path: Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Bytes of a text file or CSV to ``str``, as training and predict both read them.

    Args:
        encoding: a codec name, or "auto" (:func:`detect_encoding`).
        errors: "strict" (undecodable bytes are an error) or "replace" (they become U+FFFD).

    Raises:
        UndecodableText: naming the file and the line of the first undecodable byte.
    """
    name = detect_encoding(data) if encoding == AUTO else encoding
    if name is None:
        if errors == "strict":
            raise UndecodableText(f"{path}: not text (no text encoding fits its bytes)")
        name = "utf-8"
    try:
        # a UTF-8 byte-order mark is not part of the text
        codec = "utf-8-sig" if codecs.lookup(name).name == "utf-8" else name
        return data.decode(codec, errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        shown = data[exc.start:exc.end].hex(" ")
        raise UndecodableText(f"{path}: line {line}: byte(s) {shown} are not {name} text") from None
    except LookupError:
        raise DataError(f"{path}: unknown encoding {name!r}") from None


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _unreadable(Path(path), exc, what) from None


def read_text_file(path: Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """A text file (a byte-order mark is dropped), for training and predict alike.

    Args:
        encoding, errors: see :func:`decode_text`.

    Raises:
        DataError: naming the file (and line) when it is missing, unreadable or not text in ``encoding``.
    """
    return decode_text(_read_bytes(Path(path), "a text file"), Path(path), encoding, errors)


@dataclass
class Table:
    """A CSV file read as strings: header names (stripped), rows, and each row's line number.

    ``has_header`` is False when the file's first line was data (``header: false``, or ``auto``
    finding a first line of numbers); ``header`` then holds the given or generated column names.
    """

    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    has_header: bool = True

    def records(self) -> list[tuple[int, dict]]:
        """``(line number, {column: cell})`` per row."""
        return [(line, dict(zip(self.header, row))) for line, row in zip(self.lines, self.rows)]


#: ``dataset.header``: "true" (the first line names the columns), "false" (it is data), "auto".
HEADER_MODES = ("auto", "true", "false")


@dataclass
class CsvLayout:
    """How to find a CSV file's column names: ``dataset.header`` and ``dataset.columns``.

    Args:
        header: "true", "false" or "auto": with ``columns``, a first line is a header when every
            field is one of those names; without, see :func:`looks_like_header`.
        columns: the names of a header-less file's columns, in order.
        label: the label column among ``columns``: a file without it (one field fewer, as predict
            gets) takes the other names.
        missing: the cells that mean "missing" (``dataset.missing_values``; default
            :data:`aimodel.data.missing.DEFAULT_MISSING`): such a cell is never a column name.
        delimiter: the field separator (``dataset.delimiter``); None: a tab for ``.tsv`` files, else ``,``.
        decimal: ``","`` (``dataset.decimal``): numbers written ``17,99`` or ``1.234,5`` are read as
            ``17.99`` and ``1234.5`` (:func:`decimal_point`).
        sheet: a spreadsheet's sheet (``dataset.sheet``); None: the first.
    """

    header: str = "true"
    columns: Optional[list[str]] = None
    label: Optional[Union[str, list[str]]] = None
    missing: Optional[list[str]] = None
    delimiter: Optional[str] = None
    decimal: str = "."
    sheet: Optional[str] = None


#: A number written with a decimal comma (``17,99``, ``-0,5``, ``1.234,5``, ``2,5e3``) or with ``.``
#: grouping thousands (``1.234``), with an optional currency sign or ``%`` around it (``€ 1.234,50``, ``12,5 %``).
DECIMAL_COMMA = re.compile(r"(?P<pre>[-+]?\s*[$€£¥₹]?\s*)"
                           r"(?P<num>[-+]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][-+]?\d+)?|[-+]?\d{1,3}(?:\.\d{3})+)"
                           r"(?P<post>\s*(?:%|[$€£¥₹])?)")


def decimal_point(cell: str) -> str:
    """A cell written with a decimal comma as Python reads numbers (``1.234,5`` -> ``1234.5``, ``€ 12,50`` ->
    ``€ 12.50``, read by :func:`aimodel.data.missing.parse_number`); others as they are."""
    m = DECIMAL_COMMA.fullmatch(cell.strip())
    if m:
        return m["pre"] + m["num"].replace(".", "").replace(",", ".") + m["post"]
    return cell


def generated_names(n: int) -> list[str]:
    """Column names of a header-less file without ``dataset.columns``: column_1, column_2, ..."""
    return [f"column_{i}" for i in range(1, n + 1)]


#: How many rows after the first one ``header: auto`` compares it with.
SNIFF_ROWS = 200


def looks_like_header(first: list[str], rows: list[list[str]], missing: Optional[list[str]] = None) -> bool:
    """``header: auto`` without ``dataset.columns``: does the first line name the columns?

    It is compared with the rows below it (up to :data:`SNIFF_ROWS`): a word above a column of numbers
    is a name; a missing-value marker (``?``, ``NA``) is data, as is a word that recurs below it in its
    column (a category, a class). Otherwise the line is a header when a field is neither a number nor
    missing. A file of one line (predict's) has only the last rule.
    """
    cells = MissingCells(missing)
    sample = [r for r in rows[:SNIFF_ROWS] if len(r) == len(first)]
    below = [[r[j].strip() for r in sample] for j in range(len(first))]
    word = [bool(f) and not cells.missing(f) and not is_number(f) for f in first]
    for is_word, column in zip(word, below):
        values = [c for c in column if not cells.missing(c)]
        if is_word and values and all(is_number(c) for c in values):
            return True
    if sample and any(f and cells.missing(f) for f in first):
        return False
    if any(is_word and f in column for is_word, f, column in zip(word, first, below)):
        return False
    return any(word) if sample else not all(f and is_number(f) for f in first)


def _first_is_header(fields: list[str], rows: list[list[str]], layout: CsvLayout) -> bool:
    if layout.header != "auto":
        return layout.header == "true"
    if layout.columns:
        return all(f in layout.columns for f in fields)
    return looks_like_header(fields, rows, layout.missing)


def _names(fields: list[str], is_header: bool, layout: CsvLayout, name: str, line: int) -> list[str]:
    """The column names for a file whose first row is ``fields``."""
    given = layout.columns
    if is_header and (not given or layout.header == "auto"):
        return fields
    if not given:
        return generated_names(len(fields))
    if len(fields) == len(given):
        return list(given)
    labels = layout.label if isinstance(layout.label, list) else [layout.label]
    without_label = [c for c in given if c not in labels]
    if len(without_label) < len(given) and len(fields) == len(without_label):
        return without_label
    raise DataError(f"{name}: line {line} has {len(fields)} fields, dataset.columns names {len(given)} "
                    f"({', '.join(given)})")


def read_csv(path: Path, delimiter: Optional[str] = None, encoding: str = "utf-8",
             errors: str = "strict", layout: Optional[CsvLayout] = None) -> Table:
    """Read a CSV file: a header row (or names from ``layout``) and rows.

    Quoted fields may hold delimiters and newlines; ``\\n``, ``\\r\\n`` and ``\\r`` line ends
    may be mixed, and the last line needs no newline.

    Args:
        delimiter: the field separator; default ``\\t`` for ``.tsv`` files, else ``,``.
        encoding, errors: see :func:`decode_text`.
        layout: header and column names (default: the first line is the header).

    Raises:
        DataError: naming the file (and line) for an empty file, a header without
            rows, a row with the wrong number of fields, a repeated column name,
            bytes that are not text in ``encoding``, or a file that is not CSV.
    """
    path = Path(path)
    if path.suffix.lower() in (".xls", ".ods", ".numbers"):
        raise DataError(f"{path}: {path.suffix} spreadsheets are not read; save it as .xlsx or .csv")
    if path.suffix.lower() in SHEET_SUFFIXES:  # cells hold numbers, not text to read with a decimal comma
        rows, lines = _sheet_rows(path, layout.sheet if layout else None)
        return _table(rows, lines, str(path), ",", replace(layout or CsvLayout(), decimal="."))
    text = decode_text(_read_bytes(path, "a CSV file"), path, encoding, errors)
    return _parse_csv(io.StringIO(text, newline=""), str(path), table_delimiter(path.name, delimiter, layout), layout)


#: Excel's error values: a cell holding one is missing.
_SHEET_ERRORS = {"#N/A", "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#GETTING_DATA"}


def _sheet_text(value) -> str:
    """A spreadsheet cell as a CSV would hold it: numbers as written, dates in ISO, errors and blanks empty."""
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".15g")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    text = str(value)
    return "" if text.strip() in _SHEET_ERRORS else text


def _sheet_rows(path: Path, sheet: Optional[str]) -> tuple[list[list[str]], list[int]]:
    """The non-empty rows of one sheet of an ``.xlsx`` file as strings (each with its row number), padded
    to the widest row's last filled cell."""
    import zipfile

    try:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:
        raise DataError(f"{path}: reading spreadsheets needs openpyxl (pip install openpyxl), or save it as CSV") \
            from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        raise _unreadable(path, exc, "a spreadsheet") from None
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .xlsx file ({exc})") from None
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise DataError(f"{path}: no sheet '{sheet}' (dataset.sheet); sheets: {', '.join(names)}")
        rows, lines = [], []
        for number, row in enumerate(book[sheet or names[0]].iter_rows(values_only=True), start=1):
            cells = [_sheet_text(v) for v in row]
            if any(c.strip() for c in cells):
                rows.append(cells)
                lines.append(number)
    finally:
        book.close()
    if sheet is None and len(names) > 1 and len(rows) < 2:
        raise DataError(f"{path}: its first sheet '{names[0]}' holds {len(rows)} row(s); name the sheet with the "
                        f"table in dataset.sheet (sheets: {', '.join(names)})")
    width = max((max(i for i, c in enumerate(r) if c.strip()) + 1 for r in rows), default=0)
    return [(r + [""] * width)[:width] for r in rows], lines


def read_csv_bytes(data: bytes, name: str, delimiter: Optional[str] = None, encoding: str = "utf-8",
                   errors: str = "strict", layout: Optional[CsvLayout] = None) -> Table:
    """Read CSV content that arrived without a file (an upload named ``name``), exactly as :func:`read_csv`."""
    text = decode_text(data, Path(name), encoding, errors)
    return _parse_csv(io.StringIO(text, newline=""), name, table_delimiter(name, delimiter, layout), layout)


def table_delimiter(name: str, delimiter: Optional[str] = None, layout: Optional[CsvLayout] = None) -> str:
    """The field separator of the file ``name``: ``delimiter``, else the layout's, else a tab for ``.tsv``, else ``,``."""
    if delimiter is None and layout is not None:
        delimiter = layout.delimiter
    if delimiter is not None:
        return delimiter
    return "\t" if name.lower().endswith(".tsv") else ","


def _other_separator(first: list[str], delimiter: str) -> str:
    """A hint for a file whose first line is one field holding another separator."""
    if len(first) != 1:
        return ""
    found = [c for c in (";", "\t", "|", ",") if c != delimiter and c in first[0]]
    return (f" (its first line looks separated by {found[0]!r}, not {delimiter!r}: dataset.delimiter)"
            if found else "")


def _parse_csv(f, name: str, delimiter: str, layout: Optional[CsvLayout] = None) -> Table:
    layout = layout or CsvLayout()
    try:
        reader = csv.reader(f, delimiter=delimiter)
        rows, lines = [], []
        for row in reader:
            if row:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{name}: not a readable CSV file ({exc})") from None
    return _table(rows, lines, name, delimiter, layout)


def _without_trailing_delimiters(rows: list[list[str]]) -> list[list[str]]:
    """``rows`` without a last column that is empty in every row: a delimiter ending every line, as some
    spreadsheet exports write (also when only the data lines have it, one field more than the header)."""
    while rows and all(len(r) > 1 and not r[-1].strip() for r in rows):
        rows = [r[:-1] for r in rows]
    if len(rows) > 1 and all(len(r) == len(rows[0]) + 1 and not r[-1].strip() for r in rows[1:]):
        rows = [rows[0]] + [r[:-1] for r in rows[1:]]
    return rows


def _table(rows: list[list[str]], lines: list[int], name: str, delimiter: str, layout: CsvLayout) -> Table:
    """The rows of a file as a :class:`Table`: header found, names given, field counts checked."""
    if not rows:
        raise DataError(f"{name}: empty file (expected a header row)")
    rows = _without_trailing_delimiters(rows)
    if layout.decimal == ",":
        rows = [[decimal_point(cell) for cell in row] for row in rows]
    fields = [h.strip() for h in rows[0]]
    is_header = _first_is_header(fields, rows[1:], layout)
    header = _names(fields, is_header, layout, name, lines[0])
    if is_header:
        rows, lines = rows[1:], lines[1:]
    what = "the header has" if is_header or not layout.columns else "dataset.columns names"
    for row, line in zip(rows, lines):
        if len(row) != len(header):
            raise DataError(f"{name}: line {line} has {len(row)} fields, {what} {len(header)}"
                            f"{_other_separator(fields, delimiter)}")
    if not rows:
        raise DataError(f"{name}: has a header but no rows")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        where = ("in the header (if the first line is data, set dataset.header: false)" if is_header
                 else "in dataset.columns")
        raise DataError(f"{name}: column name(s) {', '.join(dupes)} appear more than once {where}")
    return Table(header, rows, lines, has_header=is_header)
