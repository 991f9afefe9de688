"""File kinds and the CSV reader, shared by training sources and by evaluate/predict.

One list of suffixes per data kind, so a folder that trains is a folder that
predicts, and one CSV reader, so a table reads the same in both.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aimodel.errors import DataError

#: Every format Pillow decodes that aimodel reads as an image (training folders and predict alike).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
TEXT_SUFFIXES = (".txt", ".text")
TABLE_SUFFIXES = (".csv", ".tsv")
SEQUENCE_SUFFIXES = (".npy",)
#: what a folder is searched for, by data kind
FOLDER_SUFFIXES = {"image": IMAGE_SUFFIXES, "text": TEXT_SUFFIXES, "tabular": TABLE_SUFFIXES,
                   "sequence": SEQUENCE_SUFFIXES}


def _unreadable(path: Path, exc: OSError, what: str) -> DataError:
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{path}: file not found")
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{path}: is a directory, not {what}")
    return DataError(f"{path}: cannot read ({exc.strerror or exc})")


def read_text_file(path: Path) -> str:
    """A UTF-8 text file (a byte-order mark is dropped), for training and predict alike.

    Raises:
        DataError: naming the file when it is missing, unreadable or not UTF-8 text.
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise _unreadable(Path(path), exc, "a text file") from None


@dataclass
class Table:
    """A CSV file read as strings: header names (stripped), rows, and each row's line number."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def records(self) -> list[tuple[int, dict]]:
        """``(line number, {column: cell})`` per row."""
        return [(line, dict(zip(self.header, row))) for line, row in zip(self.lines, self.rows)]


def read_csv(path: Path, delimiter: Optional[str] = None) -> Table:
    """Read a CSV file with a header row.

    Args:
        delimiter: the field separator; default ``\\t`` for ``.tsv`` files, else ``,``.

    Raises:
        DataError: naming the file (and line) for an empty file, a header without
            rows, a row with the wrong number of fields, a repeated column name,
            a file that is not UTF-8 text or not CSV.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _parse_csv(f, str(path), _delimiter(path.name, delimiter))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise _unreadable(path, exc, "a CSV file") from None


def read_csv_bytes(data: bytes, name: str, delimiter: Optional[str] = None) -> Table:
    """Read CSV content that arrived without a file (an upload named ``name``), exactly as :func:`read_csv`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{name}: not UTF-8 text") from None
    return _parse_csv(io.StringIO(text, newline=""), name, _delimiter(name, delimiter))


def _delimiter(name: str, delimiter: Optional[str]) -> str:
    if delimiter is not None:
        return delimiter
    return "\t" if name.lower().endswith(".tsv") else ","


def _parse_csv(f, name: str, delimiter: str) -> Table:
    try:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{name}: empty file (expected a header row)")
        header = [h.strip() for h in header]
        rows, lines = [], []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{name}: line {reader.line_num} has {len(row)} fields, the header has {len(header)}")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{name}: not a readable CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{name}: has a header but no rows")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"{name}: column name(s) {', '.join(dupes)} appear more than once in the header")
    return Table(header, rows, lines)
