"""What a served model takes and gives, as every protocol publishes it: tensors and the value range.

TF Serving's ``signature_def``, KServe V2's model metadata and the gRPC metadata are all
built from :func:`tensors`; the [0, 1]-pixels check of every protocol is :func:`check_range`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from aimodel.data.spec import value_contract
from aimodel.serving.inputs import Prepared, prepare_instances
from aimodel.serving.limits import PixelBudget, RequestError

log = logging.getLogger(__name__)

#: the output every export's ``serve`` signature names: the model's output rows (class probabilities,
#: regression values in the targets' units, or multilabel label probabilities)
OUTPUT_NAME = "output_0"


def tensors(model) -> tuple[list[dict], list[dict]]:
    """``(inputs, outputs)`` of a :class:`~aimodel.serving.model.ServedModel`, each ``{"name", "dtype", "shape"}``.

    ``dtype`` is NumPy's name (``float32``, ``string``); ``shape`` has -1 for the batch dimension.
    """
    backend = model.predictor.backend
    dtypes = backend.input_dtypes()
    shapes = backend.input_shapes()
    inputs = []
    for name, dtype in dtypes.items():
        shape = shapes.get(name, (None, 1))
        inputs.append({"name": name, "dtype": dtype, "shape": [-1 if d is None else int(d) for d in shape]})
    outputs = [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [-1, len(model.class_names)]}]
    return inputs, outputs


def contract(model) -> Optional[dict]:
    """The value range and layout of an image model's input (None for other kinds)."""
    return value_contract(model.spec)


def range_problem(arrays: list, model) -> Optional[str]:
    """One line when every value of these raw pixel arrays lies in [0, 1] while the model takes 0..255."""
    if model.kind != "image" or not arrays:
        return None
    low = min(float(np.min(a)) for a in arrays)
    high = max(float(np.max(a)) for a in arrays)
    if low < 0 or not 0 < high <= 1:
        return None
    return ("every pixel of this request lies in [0, 1], but this model takes raw pixels 0..255 (channels "
            "last): multiply by 255 before sending, or the answers are meaningless")


def check_range(arrays: list, model, strict: bool) -> Optional[str]:
    """:func:`range_problem`'s warning (also logged), or a 400 with ``--strict-inputs``.

    Raises:
        RequestError: 400 when ``strict`` and the pixels look divided by 255.
    """
    problem = range_problem(arrays, model)
    if problem is None:
        return None
    if strict:
        raise RequestError(400, f"{problem} (aimodel serve --strict-inputs)")
    log.warning("model %s: %s", model.name, problem)
    return problem


def prepare_tensors(arrays: dict[str, np.ndarray], model, settings, max_pixels: int) -> Prepared:
    """Named input tensors (gRPC, KServe V2) -> prepared samples, through the same checks as REST instances.

    Raises:
        RequestError: 400 naming the first unusable input, or the [0, 1] range with ``--strict-inputs``.
    """
    instances = _instances(arrays, model)
    prepared = prepare_instances(instances, model.kind, tuple(model.spec.shape), model.preparer(),
                                 PixelBudget(max_pixels))
    raw = [s for s in prepared.samples if isinstance(s, np.ndarray)] if model.kind == "image" else []
    prepared.warning = check_range(raw, model, settings.strict_inputs)
    return prepared


def _instances(arrays: dict[str, np.ndarray], model) -> list:
    if model.kind == "tabular":
        columns = {name: [_cell(v) for v in arr.reshape(len(arr), -1)[:, 0]] for name, arr in arrays.items()}
        return [{c: values[i] for c, values in columns.items()} for i in range(len(next(iter(columns.values()))))]
    (arr,) = arrays.values()
    if arr.dtype == object:  # strings: bytes
        if model.kind != "text":
            raise RequestError(400, f"strings; this {model.kind} model takes numbers")
        return [_cell(v) for v in arr.reshape(len(arr), -1)[:, 0]]
    if model.kind == "text":
        raise RequestError(400, f"{arr.dtype} numbers; this text model takes strings")
    return list(arr.astype(np.float32))


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(400, "a string tensor holds bytes that are not UTF-8") from None
    return value.item() if isinstance(value, np.generic) else value
