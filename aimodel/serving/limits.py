"""Limits of one request, checked before the work they bound: JSON depth, pixels, input counts.

Each refusal is a :class:`RequestError` with the status and a one-line message; see the
table in docs/security.md.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import warnings
from pathlib import PurePosixPath
from typing import Any, Optional

import numpy as np

from aimodel.data.files import decode_text, table_delimiter
from aimodel.errors import DataError


class RequestError(Exception):
    """The whole request is refused with ``status`` (a bomb image, too many inputs, a malformed instance)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def image_pixels(data: bytes) -> Optional[int]:
    """Width × height from an image's header (nothing decoded); -1 for a decompression bomb, None if not an image."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        return -1
    except Exception:  # not an image: the image reader says so, in the same words as predict
        return None
    return width * height


def check_pixels(data: bytes, name: str, max_pixels: int, pixels: Optional[int] = None) -> None:
    """Refuse an image whose header promises more than ``max_pixels``, before decoding a byte of it.

    Args:
        pixels: :func:`image_pixels` of ``data``, if already known.

    Raises:
        RequestError: 413, naming the image's size and the limit.
    """
    from PIL import Image

    pixels = image_pixels(data) if pixels is None else pixels
    if pixels is None or 0 <= pixels <= max_pixels:
        return
    if pixels < 0:
        size = f"over {2 * Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb)"
    else:
        with Image.open(io.BytesIO(data)) as img:
            size = f"{img.width}×{img.height} pixels"
    raise RequestError(413, f"{name}: {size}; this server decodes images of up to {max_pixels:,} pixels "
                            "(aimodel serve --max-pixels)")


#: ``--max-pixels`` by default: enough for a 12-megapixel phone photo of a digit, or 256 images of the
#: model's own size, whichever is more (images are decoded reduced to what the model needs, see read_image).
AUTO_MAX_PIXELS = 16_000_000
#: The images of one request together may have this many times ``--max-pixels``.
REQUEST_PIXELS = 4


def default_max_pixels(shape: tuple) -> int:
    """``--max-pixels`` for a model whose input is ``shape``: :data:`AUTO_MAX_PIXELS` or 256 of its inputs."""
    side = int(np.prod(shape[:2])) if len(shape) >= 2 else 1
    return max(AUTO_MAX_PIXELS, 256 * side)


class PixelBudget:
    """The pixels one request may have decoded: each image ≤ ``max_pixels``, all ≤ :data:`REQUEST_PIXELS` times it."""

    def __init__(self, max_pixels: int):
        self.max_pixels = max_pixels
        self.left = REQUEST_PIXELS * max_pixels

    def take(self, data: bytes, name: str, pixels: Optional[int] = None) -> None:
        """Count one image (from its header) or refuse it, before a byte of it is decoded.

        Raises:
            RequestError: 413 for an image over the limit, or one that takes the request past its total.
        """
        pixels = image_pixels(data) if pixels is None else pixels
        check_pixels(data, name, self.max_pixels, pixels)
        if pixels:
            self.left -= pixels
            if self.left < 0:
                raise RequestError(413, f"{name}: this request's images together have more than "
                                        f"{REQUEST_PIXELS * self.max_pixels:,} pixels ({REQUEST_PIXELS} × "
                                        "aimodel serve --max-pixels); send fewer per request")


def pixel_budget(max_pixels: int | PixelBudget) -> PixelBudget:
    return max_pixels if isinstance(max_pixels, PixelBudget) else PixelBudget(max_pixels)


def too_many(max_inputs: int) -> str:
    """The message of the input-count limit (413)."""
    return f"more than {max_inputs} inputs in one request (aimodel serve --max-inputs); split it"


def check_rows(data: bytes, name: str, spec, max_rows: int) -> None:
    """413 as soon as the CSV is seen to hold more than ``max_rows`` rows (a header and blank lines aside).

    Counts records as the CSV reader splits them (a quoted cell may span lines), and stops at the
    limit: a 200,000-row upload costs what its first rows cost. Unreadable content is left to the
    table reader, which names the problem.
    """
    try:
        text = decode_text(data, PurePosixPath(name), *spec.text_encoding())
        delimiter = table_delimiter(name, None, spec.csv_layout())
        rows = (r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r)
        if sum(1 for _ in itertools.islice(rows, max_rows + 2)) > max_rows + 1:
            raise RequestError(413, f"{name}: more than {max_rows} rows, past this request's input limit "
                                    "(aimodel serve --max-inputs); split it")
    except (DataError, csv.Error):
        return


#: Deepest JSON nesting a request may have: an image as pixels is 5 levels deep ({"instances": [[[[v]]]]}).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"]*"')
#: Every byte but brackets and quotes: what json_depth need not look at.
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, brackets inside strings aside (no recursion).

    Escapes go first (``\\\\`` pairs, then ``\\"``, then every other backslash: outside strings JSON
    has none), then all but brackets and quotes (``bytes.translate``), then strings; the depth is
    a running sum. For 5 MB of pixel lists it costs under a tenth of ``json.loads``' own time.
    """
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"").replace(b"\\", b"")
    skeleton = _JSON_STRING.sub(b"", unescaped.translate(None, _NOT_STRUCTURE))
    brackets = np.frombuffer(skeleton.replace(b'"', b""), np.uint8)
    if not brackets.size:
        return 0
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    return int(np.cumsum(opens.astype(np.int32) * 2 - 1).max())


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A request body -> its JSON value; every way it can be unusable is a one-line 400.

    The nesting depth is checked before parsing (no RecursionError), and integers past
    Python's digit limit are refused (no ValueError from deep inside the parser).

    Raises:
        RequestError: 400 naming the problem.
    """
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw) > max_depth:
        raise RequestError(400, f"the body is nested more than {max_depth} levels deep; no input needs that")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except RecursionError:  # a backstop: json_depth bounds the nesting already
        raise RequestError(400, "the body is nested too deeply") from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise RequestError(400, f"the body is not usable JSON: a number with too many digits ({exc})"
                           .splitlines()[0]) from None
