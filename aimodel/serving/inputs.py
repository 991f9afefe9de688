"""Request content -> prepared samples, through the very preparers ``aimodel predict`` uses.

Uploads and TF Serving instances become :class:`~aimodel.inference.collect.Item` s
(content only: a string is text, never a path on the server) and are prepared by
:mod:`aimodel.inference.prepare`, so an image file gives the same answer from the
server as from ``aimodel predict FILE``. Raw pixel instances are already the
model's input and are only checked. Everything here runs in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Optional

import numpy as np

from aimodel.data.files import (IMAGE_SUFFIXES, SEQUENCE_SUFFIXES, TABLE_SUFFIXES, TEXT_SUFFIXES, decode_text,
                                read_csv_bytes)
from aimodel.errors import AimodelError, DataError
from aimodel.inference.collect import WHAT, Item, array_items, table_items
from aimodel.inference.prepare import Preparer
from aimodel.serving.limits import PixelBudget, RequestError, check_rows, image_pixels, pixel_budget, too_many

TABLE_TYPES = ("text/csv", "text/tab-separated-values", "application/csv")
B64_HINT = 'send pixels as nested lists or an image file as {"b64": "<base64>"}; file paths are not read'


class Upload(io.BytesIO):
    """Bytes that arrived in a request, under the name the client gave them.

    Image readers take it like a file; its ``str`` is the name, so their messages
    name the upload (``digit.png: not a readable image``), never a server path.
    """

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name

    def __str__(self) -> str:
        return self.name


@dataclass
class Prepared:
    """Prepared samples of one request: ``samples[i]`` is None where ``errors[i]`` says why."""

    names: list[str]
    samples: list[Any]
    errors: list[Optional[str]]
    #: the answer's key for TF Serving requests: "predictions" (row format) or "outputs" (columnar)
    key: str = "predictions"
    #: a warning to return beside the answer (pixels that look divided by 255)
    warning: Optional[str] = None

    @property
    def ready(self) -> list[int]:
        return [i for i, e in enumerate(self.errors) if e is None]


def prepare_items(items: list[Item], preparer: Preparer) -> Prepared:
    """Prepare every item that has no error yet; a failure is that item's error, never an exception."""
    samples: list[Any] = [None] * len(items)
    errors = [it.error for it in items]
    for i, it in enumerate(items):
        if it.error is None:
            samples[i], errors[i] = _prepare_one(preparer, it)
    return Prepared([it.name for it in items], samples, errors)


def _prepare_one(preparer: Preparer, item: Item) -> tuple[Any, Optional[str]]:
    try:
        return preparer.prepare(item), None
    except AimodelError as exc:
        return None, str(exc)
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:  # content no reader anticipated
        return None, f"{item.name}: cannot use this input ({type(exc).__name__})"


# --- multipart uploads (POST /predict) -----------------------------------------------------------

#: Uploads this small are prepared on the event loop: a thread hop would cost more than decoding them.
LIGHT_BYTES = 16 * 1024
LIGHT_PIXELS = 256 * 256


@dataclass
class FilePart:
    """One uploaded file: the name the client gave, its bytes, its content type, its pixels if an image."""

    name: str
    data: bytes
    content_type: str = ""
    pixels: Optional[int] = None

    def __post_init__(self):
        if self.pixels is None:
            self.pixels = image_pixels(self.data)


def is_light(files: list[FilePart], texts: list[str]) -> bool:
    """Whether preparing these uploads takes well under a millisecond (small files, small images)."""
    if sum(len(f.data) for f in files) + sum(len(t) for t in texts) > LIGHT_BYTES:
        return False
    return all(0 <= (f.pixels or 0) <= LIGHT_PIXELS for f in files)


def upload_items(part: FilePart, kind: str, column: Optional[str], spec, max_pixels: int | PixelBudget,
                 max_rows: Optional[int] = None) -> list[Item]:
    """One uploaded file -> items, deciding by its name's suffix as ``aimodel predict`` does for files.

    Args:
        max_pixels: the limit per image, or the request's :class:`PixelBudget`.
        max_rows: a table with more rows than this is a 413, found while reading it (not after).
    """
    name, data = part.name, part.data
    suffix = PurePosixPath(name).suffix.lower()
    is_table = suffix in TABLE_SUFFIXES or part.content_type.split(";")[0].strip().lower() in TABLE_TYPES
    if is_table:
        if kind not in ("tabular", "text"):
            return [Item(name, error=f"{name}: a table; this model takes {WHAT[kind]}")]
        table_name = name if suffix in TABLE_SUFFIXES else name + ".csv"
        if max_rows is not None:
            check_rows(data, table_name, spec, max_rows)

        def read():
            return read_csv_bytes(data, table_name, None, *spec.text_encoding(), spec.csv_layout())

        return table_items(read, name, spec, column)
    if kind == "image":
        if suffix in TEXT_SUFFIXES + SEQUENCE_SUFFIXES:
            return [Item(name, error=f"{name}: not an image; this model takes {WHAT[kind]}")]
        pixel_budget(max_pixels).take(data, name, part.pixels)
        return [Item(name, value=Upload(data, name))]
    if kind == "text":
        if suffix in IMAGE_SUFFIXES:
            return [Item(name, error=f"{name}: an image; this model takes {WHAT[kind]}")]
        try:  # as predict reads a file: in the encoding the model was trained with
            return [Item(name, value=decode_text(data, PurePosixPath(name), *spec.text_encoding()))]
        except DataError as exc:
            return [Item(name, error=str(exc))]
    if kind == "sequence" and suffix in SEQUENCE_SUFFIXES:
        return array_items(Upload(data, name), name, spec)
    return [Item(name, error=f"{name}: not one of the inputs this {kind} model takes ({WHAT[kind]})")]


def text_items(texts: list[str], kind: str) -> list[Item]:
    """``text`` form fields -> items (for text models; an error item otherwise, as ``--text`` gets)."""
    items = []
    for i, text in enumerate(texts, 1):
        item = Item(name=f"text {i}" if len(texts) > 1 else "text", value=text)
        if kind != "text":
            item.error = f"{item.name}: this model takes {kind} inputs ({WHAT[kind]}), not text"
        items.append(item)
    return items


# --- TF Serving instances (POST /v1/models/<name>:predict) ---------------------------------------


def parse_instances(body: Any, kind: str, max_inputs: Optional[int] = None) -> tuple[list, str]:
    """``{"instances": [...]}`` (row format) or ``{"inputs": ...}`` (columnar) -> (instances, answer key).

    Args:
        max_inputs: more instances than this is a 413, before any row is built from columns.

    Raises:
        RequestError: 400 naming what is wrong with the body's layout; 413 past ``max_inputs``.
    """
    if not isinstance(body, dict):
        raise RequestError(400, 'the body must be a JSON object: {"instances": [...]}')
    signature = body.get("signature_name", "serving_default")
    if signature not in ("serving_default", "", None):
        raise RequestError(400, f"signature_name {signature!r}: this model has only 'serving_default'")
    unknown = sorted(set(body) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise RequestError(400, f"unknown key(s) {', '.join(map(repr, unknown))}; expected 'instances' (or 'inputs')")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, 'give exactly one of "instances" (a list, one entry per input) or "inputs"')
    if "instances" in body:
        instances, key = body["instances"], "predictions"
    else:
        instances, key = _columnar(body["inputs"], kind, max_inputs), "outputs"
    if not isinstance(instances, list):
        raise RequestError(400, f'"instances" must be a list, got {type(instances).__name__}')
    if not instances:
        raise RequestError(400, '"instances" is empty')
    return instances, key


def _columnar(inputs: Any, kind: str, max_inputs: Optional[int] = None) -> Any:
    """TF Serving's columnar format: a list is the instances; a dict of equal-length lists is table columns."""
    if isinstance(inputs, dict) and kind == "tabular":
        lengths = {len(v) if isinstance(v, list) else -1 for v in inputs.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise RequestError(400, '"inputs" as columns: every column must be a list, all of one length')
        n = lengths.pop()
        if max_inputs is not None and n > max_inputs:
            raise RequestError(413, too_many(max_inputs))
        return [{col: values[i] for col, values in inputs.items()} for i in range(n)]
    return inputs


def prepare_instances(instances: list, kind: str, shape: tuple, preparer: Preparer,
                      max_pixels: int | PixelBudget, key: str = "predictions") -> Prepared:
    """Each instance -> one prepared sample; any unusable instance refuses the request, as TF Serving does.

    Raises:
        RequestError: 400 naming the first bad instance (``instances[3]: ...``), or 413 for a bomb image.
    """
    encoding = preparer.spec.text_encoding()
    pixels = pixel_budget(max_pixels)
    items = [_instance_item(f"instances[{i}]", inst, kind, tuple(shape), pixels, encoding)
             for i, inst in enumerate(instances)]
    samples = []
    for item in items:
        if isinstance(item.value, RawSample):
            samples.append(item.value.array)
            continue
        sample, error = _prepare_one(preparer, item)
        if error is not None:
            raise RequestError(400, error)
        samples.append(sample)
    return Prepared([it.name for it in items], samples, [None] * len(items), key)


@dataclass
class RawSample:
    """Pixels or a sequence sent as numbers: already the model's input, only checked."""

    array: np.ndarray


def _instance_item(name: str, inst: Any, kind: str, shape: tuple, max_pixels: int | PixelBudget,
                   encoding: tuple[str, str] = ("utf-8", "strict")) -> Item:
    if isinstance(inst, dict) and set(inst) == {"b64"}:
        data = _b64(name, inst["b64"])
        if kind == "image":
            pixel_budget(max_pixels).take(data, name)
            return Item(name, value=Upload(data, name))
        if kind == "text":
            try:  # as an uploaded .txt file: in the encoding the model was trained with
                return Item(name, value=decode_text(data, PurePosixPath(name), *encoding))
            except DataError as exc:
                raise RequestError(400, f"{name}: the b64 bytes are not text in the model's encoding "
                                        f"({encoding[0]}): {exc}") from None
        raise RequestError(400, f"{name}: this {kind} model takes {_expects(kind, shape)}, not b64 bytes")
    if kind == "text":
        if not isinstance(inst, str):
            raise RequestError(400, f"{name}: this text model takes a string, got {_what(inst)}")
        return Item(name, value=inst)
    if kind == "tabular":
        return Item(name, value=_row(name, inst))
    if isinstance(inst, str):
        raise RequestError(400, f"{name}: a string; this {kind} model takes {_expects(kind, shape)} "
                                "(a string is never read as a file path on the server)")
    return Item(name, value=RawSample(_numbers(name, inst, kind, shape)))


def _b64(name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise RequestError(400, f"{name}: b64 must be a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"{name}: b64 is not valid base64") from None


def _numbers(name: str, inst: Any, kind: str, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(inst, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        raise RequestError(400, f"{name}: not a regular nested list of numbers ({_expects(kind, shape)})") from None
    if kind == "image" and len(shape) == 3 and shape[2] == 1 and arr.shape == shape[:2]:
        arr = arr[..., None]  # (H, W) for a one-channel model
    if arr.shape != shape:
        raise RequestError(400, f"{name}: shape {list(arr.shape)}; this model takes {_expects(kind, shape)}")
    if not np.isfinite(arr).all():
        raise RequestError(400, f"{name}: contains NaN or infinite values")
    return arr


def _row(name: str, inst: Any) -> dict:
    """A table row object -> string cells, as a CSV row would give them to the tabular preparer."""
    if not isinstance(inst, dict):
        raise RequestError(400, f"{name}: this tabular model takes an object {{column: value}}, got {_what(inst)}")
    cells = {}
    for col, value in inst.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) and value is not None:
            raise RequestError(400, f"{name}: column '{col}' must be a number or a string, got {_what(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(400, f"{name}: column '{col}' is {value}")
        if value is not None:
            cells[str(col)] = value if isinstance(value, str) else repr(value)
    return cells


def _expects(kind: str, shape: tuple) -> str:
    if kind == "image":
        dims = list(shape)
        alt = f" (or {dims[:2]})" if len(dims) == 3 and dims[2] == 1 else ""
        return f"pixels of shape {dims}{alt} as nested lists, or an image file as {{\"b64\": ...}}"
    if kind == "sequence":
        return f"numbers of shape {list(shape)} as nested lists"
    return WHAT.get(kind, kind)


def _what(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)

