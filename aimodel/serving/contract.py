"""What a served model takes and gives, as every protocol publishes it: tensors and the value range.

TF Serving's ``signature_def``, KServe V2's model metadata and the gRPC metadata are all
built from :func:`tensors`; the [0, 1]-pixels check of every protocol is :func:`check_range`.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from aimodel.data.spec import value_contract
from aimodel.serving.inputs import RequestError

log = logging.getLogger(__name__)

#: the output every export's ``serve`` signature names; the served answer is class probabilities
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
