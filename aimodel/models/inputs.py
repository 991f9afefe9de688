"""Model-side preprocessing for text, tabular and sequence data.

Each builder takes the raw inputs a source yields (see "Data kinds contract"),
adapts its preprocessing layers on the training split only, and returns
``(keras inputs, tensor)``. The layers travel inside the saved model, so
predict feeds raw strings, raw table cells or raw numbers.

When ``bundle.notes["spec_only"]`` is true (``aimodel model summary`` without
the data), nothing is adapted: the text vocabulary is assumed full
(``max_tokens``) and sequence statistics are placeholders.
"""

from __future__ import annotations

import re

from aimodel.data.base import DataBundle
from aimodel.data.preprocessing import INPUTS
from aimodel.data.spec import DEFAULT_MAX_TOKENS, DEFAULT_SEQUENCE_LENGTH
from aimodel.errors import ConfigError, DataError



def spec_only(bundle: DataBundle) -> bool:
    return bool(bundle.notes.get("spec_only"))


@INPUTS.register("text")
def text_inputs(bundle: DataBundle, cfg):
    """Raw strings ``(batch,)`` in; int token ids ``(batch, sequence_length)`` out (0 = padding).

    Texts are standardized by :func:`aimodel.models.layers.standardize_text`
    (separators to spaces, control characters removed, lower case, no
    punctuation) inside the model, for training and prediction alike.

    Sets ``spec.vocab_size`` (padding and out-of-vocabulary ids included) for
    the embedding layer of the architecture.
    """
    import keras
    from keras import layers

    from aimodel.models.layers import standardize_text

    spec = bundle.spec
    max_tokens = int(spec.max_tokens or DEFAULT_MAX_TOKENS)
    length = int(spec.sequence_length or DEFAULT_SEQUENCE_LENGTH)
    inputs = keras.Input(shape=(), dtype="string", name="text")
    vectorize = layers.TextVectorization(
        max_tokens=max_tokens, output_mode="int", output_sequence_length=length, standardize=standardize_text,
        name="vectorize",
    )
    if spec_only(bundle):
        vocab_size = max_tokens
    else:
        vectorize.adapt(_strings(bundle.train.x))
        vocab_size = int(vectorize.vocabulary_size())
        if vocab_size <= 2:
            raise DataError("the training texts hold no words (the vocabulary is empty after lower-casing "
                            "and removing punctuation and control characters)")
    spec.vocab_size = vocab_size
    spec.sequence_length = length
    return inputs, vectorize(inputs)


def _strings(x):
    import numpy as np

    x = np.asarray(x)
    if x.dtype.kind not in ("U", "S", "O"):
        raise DataError(f"text data must be strings, got an array of {x.dtype}")
    return x.astype(str)


#: Forecasting with ``dataset.anchor: last``: the layer that subtracts each window's last target value.
ANCHOR = "anchor"


def anchored(spec) -> bool:
    """True when a forecasting model works relative to each window's last target value (``dataset.anchor``)."""
    return getattr(spec, "anchor", None) == "last"


def anchor_windows(x):
    """Numpy twin of :class:`aimodel.models.layers.SubtractLast`: column 0 minus its value at the last step."""
    import numpy as np

    x = np.array(x, np.float32)
    x[:, :, 0] -= x[:, -1:, 0]
    return x


@INPUTS.register("sequence")
def sequence_inputs(bundle: DataBundle, cfg):
    """Numbers ``(batch, T, F)`` in; each feature standardized over the training split.

    An anchored forecast (``dataset.anchor: last``) first subtracts each window's last target value from
    the target column (:class:`aimodel.models.layers.SubtractLast`), and the standardization is adapted on
    the windows so anchored.
    """
    import keras
    import numpy as np
    from keras import layers

    from aimodel.models.layers import SubtractLast

    inputs = keras.Input(shape=bundle.spec.shape, name="sequence")
    norm = layers.Normalization(axis=-1, name="normalize")
    sample = np.asarray(bundle.train.x, np.float32) if not spec_only(bundle) else None
    if sample is None:
        sample = np.zeros((2,) + tuple(bundle.spec.shape), np.float32)
    elif not np.isfinite(sample).all():
        raise DataError("the training sequences contain NaN or infinite values")
    x = inputs
    if anchored(bundle.spec):
        x = SubtractLast(name=ANCHOR)(inputs)
        sample = anchor_windows(sample)
    norm.adapt(sample)
    return inputs, norm(x)


@INPUTS.register("tabular")
def tabular_inputs(bundle: DataBundle, cfg):
    """One input per column (a dict keyed by column name) in; features ``(batch, F)`` out.

    Numeric columns: a missing cell (NaN) is filled with the training split's median (``spec.impute``)
    and, when the training split has missing cells there, a 0/1 "was missing" column is added
    (:class:`aimodel.models.layers.FillMissing`); both are standardized (``Normalization``). String
    columns are one-hot encoded (``StringLookup``, with one slot for values unseen in training).
    """
    import keras
    import numpy as np
    from keras import layers

    from aimodel.data.missing import fill, fill_value
    from aimodel.models.layers import FillMissing

    if spec_only(bundle):
        raise DataError("tabular models need the data to size their inputs; load the dataset")
    zero_missing = {c["name"] for c in bundle.spec.columns or [] if isinstance(c, dict) and c.get("zero_means_missing")}
    inputs, parts = {}, []
    for name, kind in table_columns(bundle):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        # The input keeps the column's name (Keras matches dict keys to input names; only "/" is banned).
        input_name = name.replace("/", "_")
        values = np.asarray(bundle.train.x[name])
        if kind == "numeric":
            inp = keras.Input(shape=(1,), dtype="float32", name=input_name)
            column = values.astype(np.float32).reshape(-1, 1)
            if np.isinf(column).any():
                raise DataError(f"column '{name}' has infinite values in the training split")
            missing = np.isnan(column)
            value = fill_value(column, bundle.spec.impute or "median")
            filler = FillMissing(value, zero_is_missing=name in zero_missing, indicator=bool(missing.any()),
                                 name=f"fill_{safe}")
            adapted = fill(column, value)
            if filler.indicator:
                adapted = np.concatenate([adapted, missing.astype(np.float32)], axis=1)
            norm = layers.Normalization(axis=-1, name=f"normalize_{safe}")
            norm.adapt(adapted)
            parts.append(norm(filler(inp)))
        else:
            inp = keras.Input(shape=(1,), dtype="string", name=input_name)
            lookup = layers.StringLookup(output_mode="one_hot", name=f"onehot_{safe}")
            lookup.adapt(values.astype(str))
            parts.append(lookup(inp))
        inputs[name] = inp
    if not parts:
        raise ConfigError("the table has no feature columns besides the label")
    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="features")(parts)
    return inputs, x


def table_columns(bundle: DataBundle) -> list[tuple[str, str]]:
    """``(name, "numeric" | "categorical")`` per feature column, in the spec's order.

    ``spec.columns`` may list names, ``{"name": ..., "kind": ...}`` mappings or a
    ``{name: kind}`` mapping; the kind is read from the data's dtype when not given.
    """
    import numpy as np

    x = bundle.train.x
    if not isinstance(x, dict):
        raise DataError(f"tabular data must be a mapping of column -> values, got {type(x).__name__}")
    declared = getattr(bundle.spec, "columns", None) or list(x)
    if isinstance(declared, dict):
        declared = [{"name": k, "kind": v} for k, v in declared.items()]
    out = []
    for item in declared:
        name = item if isinstance(item, str) else item.get("name")
        given = None if isinstance(item, str) else (item.get("kind") or item.get("type"))
        if name not in x:
            raise DataError(f"column '{name}' is in the spec but not in the data")
        if given in ("numeric", "number", "float", "int", "integer"):
            kind = "numeric"
        elif given in ("categorical", "category", "string", "str"):
            kind = "categorical"
        else:
            kind = "numeric" if np.asarray(x[name]).dtype.kind in "biuf" else "categorical"
        out.append((name, kind))
    return out
