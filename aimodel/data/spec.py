"""What a model expects as input: :class:`InputSpec`, saved beside every model (``meta.json``).

Every field any part of aimodel reads is declared here, once: data sources fill
it, the model's input builders complete it (``vocab_size``), training writes it
to ``meta.json``, and evaluate, predict and exports read it back. Nobody adds
attributes to a spec on the fly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Literal, Optional

#: Text defaults, used by the text sources' schema and when an older spec does not say.
DEFAULT_MAX_TOKENS = 20000
DEFAULT_SEQUENCE_LENGTH = 200

DataKind = Literal["image", "text", "tabular", "sequence"]


@dataclass
class InputSpec:
    """What the model expects, saved beside it (meta.json) so predict can prepare raw inputs.

    ``kind`` selects the preprocessing builder (``aimodel.data.preprocessing.INPUTS``)
    and which architectures fit (each builder's ``kinds``). ``shape`` is one raw
    sample's shape: images (H, W, C); sequences (T, F); tabular (n_columns,);
    text () (one string).
    """

    kind: DataKind
    shape: tuple[int, ...]
    #: The model's outputs, in order: classes (classification, multilabel), target columns (regression) or
    #: forecast steps ``t+1``... (a forecast). See :mod:`aimodel.tasks`.
    class_names: list[str]
    #: What the model answers (``task:``): None in runs from before it, which are classification.
    task: Optional[Literal["classification", "regression", "multilabel"]] = None
    #: Multilabel: each label's decision threshold (chosen on the validation split, or 0.5 each).
    thresholds: Optional[list[float]] = None
    #: Multilabel CSVs: what separates the labels in one cell (``dataset.label_separator``).
    label_separator: Optional[str] = None
    #: Images: "dark" when images are light ink on a dark background (MNIST, digits).
    background: Optional[Literal["dark", "light"]] = None
    #: Images: median share of the image side that the ink's bounding box spans.
    content_fraction: Optional[float] = None
    #: Images: median share of pixels that are ink (> 30% of the image's maximum).
    ink_coverage: Optional[float] = None
    #: Images: median stroke width as a share of the ink box's larger side (the pen; see
    #: ``aimodel.data.images.stroke_fraction``); predict brings a photo's strokes to it.
    stroke_width: Optional[float] = None
    #: Images: median centre of mass of the ink, ``[row, column]`` in pixels (0 is the first pixel's
    #: centre): MNIST puts it at [14, 14], scikit-learn's digits, centred by their box, at [3.5, 3.5].
    ink_centre: Optional[list[float]] = None
    #: Tabular: one ``{"name": ..., "type": "numeric" | "categorical"}`` per feature column, in order.
    columns: Optional[list[dict]] = None
    #: Text: vocabulary size asked for and tokens per sample of the model's TextVectorization.
    max_tokens: Optional[int] = None
    sequence_length: Optional[int] = None
    #: Text: the learned vocabulary's size (padding and out-of-vocabulary ids included),
    #: set by the text input builder for the embedding layer.
    vocab_size: Optional[int] = None
    #: Text from a CSV: the column that held the text in training (predict looks for it first).
    text_column: Optional[str] = None
    #: Images from a CSV (``dataset.image_column``): the column of image paths (relative to the CSV's
    #: folder, or absolute) in training; evaluate --data and predict read a CSV's images from it.
    image_column: Optional[str] = None
    #: CSV sources: the column that held the class label in training (evaluate --data looks for it).
    label_column: Optional[str] = None
    #: Text files and CSVs: how training decoded them (``dataset.encoding``, "auto" or a codec, and
    #: ``dataset.encoding_errors``); evaluate --data and predict read files the same way. None: UTF-8, strict.
    encoding: Optional[str] = None
    encoding_errors: Optional[str] = None
    #: CSV sources: ``dataset.header`` and ``dataset.columns`` (a header-less file's names, label
    #: included), so evaluate --data, predict and serve read header-less files the same way.
    header: Optional[str] = None
    file_columns: Optional[list[str]] = None
    #: CSV sources: ``dataset.delimiter`` (None: by the file's suffix) and ``dataset.decimal`` (None: ".").
    delimiter: Optional[str] = None
    decimal: Optional[str] = None
    #: CSV sources read from a spreadsheet: ``dataset.sheet`` (None: the first sheet).
    sheet: Optional[str] = None
    #: CSV sources: the cells that mean "missing" (``dataset.missing_values``). None (older runs): none.
    missing_values: Optional[list[str]] = None
    #: Tabular: how the model fills a missing numeric cell (``dataset.impute``: median, mean, zero).
    impute: Optional[str] = None
    #: CSV sources with ``dataset.class_names``: the label value of each class, in class order
    #: (a CSV given to evaluate --data may hold these codes instead of the names).
    label_values: Optional[list[str]] = None
    #: Forecasts (``dataset.name: timeseries``; see :mod:`aimodel.data.series`): the time column; the input
    #: columns beside the target (``label_column``, always the first input); rows per window (``shape[0]``);
    #: steps forecast (``class_names`` ``t+1``...); the season of the seasonal naive baseline; how gaps and
    #: missing cells are filled; the series' step in ``time_unit`` (second, month or number); and how its
    #: times are written (date, datetime, datetime_utc, number), so predict gives each forecast its time.
    time_column: Optional[str] = None
    features: Optional[list[str]] = None
    window: Optional[int] = None
    horizon: Optional[int] = None
    season: Optional[int] = None
    fill: Optional[str] = None
    time_step: Optional[float] = None
    time_unit: Optional[str] = None
    time_format: Optional[str] = None
    #: Forecasts: how slashed dates were read (True: 31/12/2024; False: 12/31/2024; None: there were none).
    dayfirst: Optional[bool] = None
    #: Forecasts: ``last`` when the model works relative to each window's last target value
    #: (``dataset.anchor``; see :func:`aimodel.models.factory.build_model`). None (older runs) and ``none``: it does not.
    anchor: Optional[str] = None

    @property
    def forecast(self) -> bool:
        """True for a forecasting model (windows of a series in, the next ``horizon`` steps out)."""
        return self.time_column is not None

    def text_encoding(self) -> tuple[str, str]:
        """``(encoding, errors)`` to read this model's text files and CSVs with."""
        return self.encoding or "utf-8", self.encoding_errors or "strict"

    def csv_layout(self):
        """How this model's CSV files name their columns (:class:`aimodel.data.files.CsvLayout`)."""
        from aimodel.data.files import CsvLayout

        # Runs from before dataset.header: a header row was required.
        return CsvLayout(header=self.header or "true", columns=self.file_columns, label=self.label_column,
                         missing=self.missing_values, delimiter=self.delimiter, decimal=self.decimal or ".",
                         sheet=self.sheet)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "InputSpec":
        """The spec ``to_json`` wrote; raises ``ValueError`` naming what is missing or malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        missing = [k for k in ("kind", "shape", "class_names") if k not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}  # newer meta.json keys are ignored
        if data["kind"] not in ("image", "text", "tabular", "sequence"):
            raise ValueError(f"kind: unknown data kind {data['kind']!r}")
        shape, names = data["shape"], data["class_names"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                                  for d in shape):
            raise ValueError(f"shape: expected a list of positive integers, got {shape!r}")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"class_names: expected a list of class names, got {names!r}")
        data["shape"] = tuple(shape)
        _check_optional(data)
        _check_series(data)
        return cls(**data)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: The optional fields' checks: what predict and serve read, so a hand-edited meta.json fails here,
#: with the field's name, rather than deep inside the preparation.
_OPTIONAL = {
    "background": (lambda v: v in ("dark", "light"), '"dark" or "light"'),
    "content_fraction": (lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "ink_coverage": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "stroke_width": (lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "ink_centre": (lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v),
                   "[row, column], two numbers"),
    "columns": (lambda v: isinstance(v, list) and all(isinstance(c, (dict, str)) for c in v),
                "a list of {name, type} mappings"),
    "max_tokens": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "sequence_length": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "vocab_size": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "text_column": (lambda v: isinstance(v, str), "a column name"),
    "label_column": (lambda v: isinstance(v, str), "a column name"),
    "image_column": (lambda v: isinstance(v, str) and v != "", "a column name"),
    "encoding": (lambda v: isinstance(v, str) and v != "", "a codec name or auto"),
    "encoding_errors": (lambda v: v in ("strict", "replace"), '"strict" or "replace"'),
    "header": (lambda v: v in ("auto", "true", "false"), '"auto", "true" or "false"'),
    "delimiter": (lambda v: isinstance(v, str) and len(v) == 1, "one character"),
    "decimal": (lambda v: v in (".", ","), '"." or ","'),
    "sheet": (lambda v: isinstance(v, str) and v != "", "a sheet name"),
    "file_columns": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of column names"),
    "missing_values": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of strings"),
    "impute": (lambda v: v in ("median", "mean", "zero"), '"median", "mean" or "zero"'),
    "task": (lambda v: v in ("classification", "regression", "multilabel"),
             '"classification", "regression" or "multilabel"'),
    "thresholds": (lambda v: isinstance(v, list) and all(_number(x) and 0 <= x <= 1 for x in v),
                   "a list of numbers in [0, 1]"),
    "label_separator": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "label_values": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of strings"),
    "time_column": (lambda v: isinstance(v, str) and v != "", "a column name"),
    "features": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of column names"),
    "window": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "horizon": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "season": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "fill": (lambda v: v in ("none", "previous", "interpolate"), '"none", "previous" or "interpolate"'),
    "time_step": (lambda v: _number(v) and v > 0, "a positive number"),
    "time_unit": (lambda v: v in ("second", "month", "number"), '"second", "month" or "number"'),
    "time_format": (lambda v: v in ("date", "datetime", "datetime_utc", "number", "month"),
                    '"date", "datetime", "datetime_utc", "number" or "month"'),
    "dayfirst": (lambda v: isinstance(v, bool), "true or false"),
    "anchor": (lambda v: v in ("none", "last"), '"none" or "last"'),
}


def _check_optional(data: dict) -> None:
    for key, (ok, expected) in _OPTIONAL.items():
        value = data.get(key)
        if value is not None and not ok(value):
            raise ValueError(f"{key}: expected {expected}, got {value!r}")


def _check_series(data: dict) -> None:
    """A forecast's keys come together and agree with its shape and outputs."""
    if data.get("time_column") is None:
        return
    needed = ("label_column", "window", "horizon", "time_step", "time_unit", "time_format")
    missing = [k for k in needed if data.get(k) is None]
    if missing:
        raise ValueError(f"time_column: a forecast also needs {', '.join(missing)}")
    inputs = 1 + len(data.get("features") or [])
    if data["kind"] != "sequence" or tuple(data["shape"]) != (data["window"], inputs):
        raise ValueError(f"shape: a forecast takes sequences of (window, 1 + features) = ({data['window']}, "
                         f"{inputs}), got {data['kind']} {tuple(data['shape'])}")
    if len(data["class_names"]) != data["horizon"]:
        raise ValueError(f"class_names: a forecast of horizon {data['horizon']} names {data['horizon']} outputs, "
                         f"got {len(data['class_names'])}")


#: What every image model takes: raw pixels 0..255, channels last; its Rescaling layer is inside the model.
IMAGE_VALUE_RANGE = (0.0, 255.0)


def value_contract(spec: InputSpec) -> Optional[dict]:
    """The value range and layout an image model's input tensor takes (None for other kinds).

    Published in ``/metadata``, in every export's ``.json`` and by every serving protocol, because a
    model fed pixels divided by 255 answers confidently and wrongly.
    """
    if spec.kind != "image":
        return None
    low, high = IMAGE_VALUE_RANGE
    return {"range": [low, high], "layout": "NHWC", "dtype": "float32", "shape": [None, *spec.shape],
            "note": "raw pixel values 0..255 (do not divide by 255), channels last"}
