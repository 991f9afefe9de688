"""Turn collected :class:`Item` s into model-ready batches, one :class:`Preparer` per data kind.

A preparer turns an item into one raw sample (an image file into float32
pixels, a text file into a string, a CSV row into typed cells) and stacks
samples into a batch for :meth:`ModelBackend.predict_proba`. Predict, evaluate
``--data`` and anything else that feeds a trained model use these, so the same
input gets the same answer everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.data.files import decimal_point, read_text_file
from aimodel.data.missing import parse_number
from aimodel.data.spec import InputSpec
from aimodel.errors import AimodelError, DataError
from aimodel.inference.collect import Item
from aimodel.registry import Registry

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
            text = read_text_file(text, *self.spec.text_encoding())
        if not str(text).strip():
            raise DataError(f"{item.name}: empty text")
        return str(text)

    def stack(self, samples):
        return np.asarray(samples, dtype=object)


def column_kinds(spec: InputSpec, input_dtypes: dict[str, str]) -> dict[str, str]:
    """Column -> ``numeric`` or ``categorical``, from the spec or else from the model's input dtypes."""
    declared = spec.columns or list(input_dtypes)
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
    """CSV rows -> typed cells of the trained columns: float32 for numeric inputs, str for categorical.

    For a model trained with ``dataset.missing_values`` (``spec.missing_values``), a missing cell
    (one of those strings, an absent column, a JSON null) becomes NaN in a numeric column, which
    the model fills, and the missing category in a categorical one; older models refuse it.
    """

    def __init__(self, spec, input_dtypes, **options):
        super().__init__(spec, input_dtypes, **options)
        self.kinds = column_kinds(spec, input_dtypes)
        self.cells = None
        if spec.missing_values is not None:
            from aimodel.data.missing import MissingCells

            self.cells = MissingCells(spec.missing_values)

    def columns(self) -> list[str]:
        return list(self.kinds)

    def prepare(self, item: Item):
        if not isinstance(item.value, dict):
            raise DataError(f"{item.name}: tabular models take CSV rows")
        missing = [col for col in self.columns() if item.value.get(col) is None]
        if missing and self.cells is None:  # a model trained with missing values fills absent cells
            names = ", ".join(f"'{col}'" for col in missing)
            raise DataError(f"{item.name}: missing column{'s' if len(missing) > 1 else ''} {names}")
        out = {}
        for col in self.columns():
            cell = item.value.get(col)
            out[col] = self._cell(item, col, "" if cell is None else cell.strip())  # stripped as training reads
        return out

    def _cell(self, item: Item, col: str, cell: str):
        cells = self.cells
        if self.kinds[col] == "categorical":
            return cell if cells is None else cells.category(cell)
        if cells is not None and cells.missing(cell):
            return float("nan")
        if self.spec.decimal == "," and "," in cell:  # a JSON string; files were converted as they were read
            cell = decimal_point(cell)
        try:
            value = parse_number(cell, (self.spec.delimiter or ",") == ",")
        except ValueError:
            shown = repr(cell) if cell.strip() else "empty"
            raise DataError(f"{item.name}: column '{col}' must be a number, got {shown}") from None
        if not np.isfinite(value):
            raise DataError(f"{item.name}: column '{col}' is {cell}")
        return value

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
