"""Images named by a CSV column (``dataset.image_column`` of the csv source).

Each cell is an image file's path, relative to the CSV file's folder or absolute. The files are
checked once, as an image folder's are (:func:`aimodel.data.imagefiles.scan_images`), then stream or
cache like an image folder while training (:class:`~aimodel.data.imagefiles.ImageFiles`, rooted at the
CSV's folder). A cell naming a file that is missing or does not decode, or an empty cell, is an error
naming the line and the column, or with ``dataset.on_bad_file: skip`` its row is left out and listed
(file, line, reason) in the run directory's ``data.json``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aimodel.errors import DataError


@dataclass
class ImageRows:
    """The readable rows of one CSV's image column."""

    root: Path
    #: positions (into the rows given to :func:`scan_image_column`) whose image is readable
    keep: list[int] = field(default_factory=list)
    #: the kept rows' cells, as the file writes them (relative to ``root``, or absolute)
    cells: list[str] = field(default_factory=list)
    infos: list = field(default_factory=list)  # ImageInfo per kept row
    sizes: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    #: rows left out: {"file", "line", "reason"}
    skipped: list[dict] = field(default_factory=list)


def scan_image_column(csv_path: Path, cells: list[str], lines: list[int], column: str,
                      on_bad_file: str) -> ImageRows:
    """Check every image a column names; a bad one raises :class:`DataError` (``on_bad_file: error``)
    naming its line, or is left out and listed (``skip``)."""
    from aimodel.data.imagefiles import scan_images

    root = csv_path.parent
    out = ImageRows(root)
    bad: list[tuple[int, str]] = []
    named: list[int] = []
    for i, cell in enumerate(cells):
        if not cell:
            bad.append((i, "no image path in the cell"))
        elif not (root / cell).is_file():
            bad.append((i, "no such file" if not (root / cell).exists() else "not a file"))
        else:
            named.append(i)
    scan = scan_images([root / cells[i] for i in named], "skip", root)
    good = set(scan.good)
    reasons = iter(reason for _, reason in scan.skipped)  # in the order of the files given
    for i in named:
        path = root / cells[i]
        if path in good:
            out.keep.append(i)
            out.cells.append(cells[i])
            info = scan.info[path]
            out.infos.append(info)
            out.sizes[(info.height, info.width)] += 1
            out.modes[info.mode] += 1
        else:
            bad.append((i, next(reasons)))
    bad.sort()
    if bad and on_bad_file == "error":
        i, reason = bad[0]
        more = f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else ""
        raise DataError(f"{csv_path}: line {lines[i]}, column '{column}': {cells[i]!r}: {reason}{more}; fix "
                        f"the file or the path (relative paths start at {root}), or set `dataset.on_bad_file: "
                        "skip` to leave such rows out (they are listed in the run directory's data.json)")
    out.skipped = [{"file": cells[i], "line": lines[i], "reason": reason} for i, reason in bad]
    if not out.keep:
        raise DataError(f"{csv_path}: column '{column}': no row names a readable image ({len(bad)} skipped, "
                        f"first: line {lines[bad[0][0]]}, {cells[bad[0][0]]!r}: {bad[0][1]})")
    return out


def image_files(rows: ImageRows, shape: tuple[int, int, int]):
    """The kept rows' images as :class:`~aimodel.data.imagefiles.ImageFiles` at ``shape`` (not cached yet)."""
    from aimodel.data.imagefiles import ImageFiles, tf_decodable

    return ImageFiles(rows.root, rows.cells, shape, None, [tf_decodable(info, shape) for info in rows.infos])
