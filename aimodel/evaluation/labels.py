"""Matching the classes of evaluation data to the model's classes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from aimodel.errors import DataError


def align_labels(y: np.ndarray, data_names: Sequence[str], model_names: Sequence[str], what: str) -> np.ndarray:
    """Relabel ``y`` from the data's class order to the model's, matching classes by name.

    The data may lack some of the model's classes (their support is 0); a class
    the model does not know is an error naming it.
    """
    data_names, model_names = [str(n) for n in data_names], [str(n) for n in model_names]
    if data_names == model_names:
        return y
    used = sorted(set(int(v) for v in np.unique(y)))
    unknown = [data_names[i] for i in used if data_names[i] not in model_names]
    if unknown:
        raise DataError(
            f"{what}: class(es) {', '.join(map(repr, unknown))} are not classes of the model; "
            f"the model knows: {', '.join(model_names)}"
        )
    mapping = np.array([model_names.index(n) if n in model_names else -1 for n in data_names], np.int64)
    return mapping[y]
