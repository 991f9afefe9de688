"""CSV files: a label column plus numeric and categorical feature columns, one text column, or image paths.

Tabular ``Split.x`` is a dict column → 1-D array (float32 for numeric columns,
``str`` objects for categorical ones) and ``InputSpec.columns`` lists the
features in order; the model's preprocessing layers (normalization, lookup)
are adapted on the training split. With ``dataset.text_column`` the data kind
is text instead (``Split.x`` is that column's strings); with ``dataset.image_column`` it is image
(``Split.x`` an :class:`~aimodel.data.imagefiles.ImageFiles` of the files the column names, see
:mod:`aimodel.data.imagecsv`).

Missing cells (``dataset.missing_values``) of numeric columns are NaN in ``Split.x``; the
model fills them (see :mod:`aimodel.data.missing`). Rows with a missing label are dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar, Literal, Optional, Union

from pydantic import Field, FilePath, field_validator, model_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, finish_bundle, holdout_split
from aimodel.data.files import (DECIMAL_COMMA, SHEET_SUFFIXES, CsvLayout, UndecodableText, read_csv,
                                table_delimiter)
from aimodel.data.missing import DEFAULT_MISSING, MissingCells, is_number
from aimodel.data.npz import absolute_path
from aimodel.data.spec import InputSpec
from aimodel.data.options import EncodingOptions, ImageFileOptions, ImageOptions, TextOptions
from aimodel.errors import DataError

log = logging.getLogger(__name__)


class CsvDataset(ImageFileOptions, ImageOptions, EncodingOptions, TextOptions, DatasetBase):
    """A CSV file (or a train and a test file) with a label column: a table, a text or image-path column."""

    tasks: ClassVar[tuple[str, ...]] = ("classification", "regression", "multilabel")

    name: Literal["csv"] = "csv"
    path: Optional[FilePath] = Field(None, description="One CSV file, split by dataset.test_split.")
    train_path: Optional[FilePath] = Field(None, description="Training CSV (instead of path).")
    test_path: Optional[FilePath] = Field(
        None, description="Test CSV beside train_path (same columns); without it the test split is carved from train."
    )
    label: Union[str, list[str]] = Field(
        ..., description="Column holding the class of each row; task: regression: the numeric target column, or "
        "a list of them; task: multilabel: the column holding each row's labels (see label_separator).")
    label_separator: str = Field(
        ";", min_length=1, description="task: multilabel: what separates the labels in one label cell (an empty "
        "cell means no label).")
    header: Literal["auto", "true", "false"] = Field(
        "auto", description="Whether the first line names the columns: true, false (it is data), or auto (with "
        "dataset.columns: a header when every field is one of those names; without: compared with the rows "
        "below, a word above numbers is a name, a missing-value marker or a word that recurs in its column is "
        "data; a data line's columns are column_1, column_2, ...).",
    )
    columns: Optional[list[str]] = Field(
        None, description="Names of a header-less file's columns, in order (the first line is then data). "
        "Saved with the model: evaluate --data, predict and serve read header-less files by these names.",
    )
    features: Optional[list[str]] = Field(
        None, description="Feature columns to use; default: every column but the label."
    )
    categorical: list[str] = Field(
        [], description="Columns to treat as categories even if their values look numeric (others: inferred; "
        "a column with any non-numeric value that is not a missing value is categorical)."
    )
    missing_values: list[str] = Field(
        list(DEFAULT_MISSING), description="Cells that mean \"missing\" (spaces stripped, case ignored). "
        "Numeric columns: filled inside the model (dataset.impute) with a 0/1 was-missing input; "
        "categorical columns: a category of its own. Rows whose label is missing are dropped.",
    )
    impute: Literal["median", "mean", "zero"] = Field(
        "median", description="What a missing numeric cell becomes: the training split's median or mean of "
        "the column, or 0.",
    )
    zero_means_missing: list[str] = Field(
        [], description="Numeric columns where 0 means \"not measured\": a 0 there is a missing value.",
    )
    class_names: Optional[Union[dict[Union[int, float, str], str], list[str]]] = Field(
        None, description="Names for coded labels, used in every report and prediction: {0: healthy, "
        "1: diabetic}, or a list in the order of the sorted label values.",
    )
    baseline: bool = Field(
        True, description="Fit and report the majority class and a logistic regression on the same split "
        "beside the model's results (train and evaluate).",
    )
    text_column: Optional[str] = Field(
        None, description="Classify this column's text instead of using feature columns (text kind)."
    )
    image_column: Optional[str] = Field(
        None, description="Take the images this column names instead of feature columns (image kind): each "
        "cell is an image file's path, relative to the CSV file's folder or absolute. dataset.image_size, "
        "color_mode, normalize, augment, cache and on_bad_file apply as for an image folder; a missing or "
        "unreadable file is an error naming its line (or, with on_bad_file: skip, its row is left out and "
        "listed in data.json).")
    test_split: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out as the test split (seeded; "
                              "stratified by class for classification).")
    delimiter: Optional[str] = Field(
        None, min_length=1, max_length=1, description="Field separator; default: a tab for .tsv files, else ','. "
        "Saved with the model: evaluate --data, predict and serve read files with it.")
    sheet: Optional[str] = Field(
        None, description="A spreadsheet's (.xlsx) sheet, by name; default: the first. Saved with the model.")
    decimal: Literal[".", ","] = Field(
        ".", description="The decimal mark of the numbers: ',' reads 17,99 as 17.99 and 1.234,5 as 1234.5 (needs "
        "another delimiter, e.g. ';'). Saved with the model.")

    _abs = field_validator("path", "train_path", "test_path")(absolute_path)

    @field_validator("header", mode="before")
    @classmethod
    def _yaml_bool(cls, value):
        """YAML reads ``header: false`` (and ``--set dataset.header=false``) as a boolean."""
        return str(value).lower() if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.train_path is None):
            raise ValueError("give either dataset.path (one file) or dataset.train_path (with optional test_path)")
        if self.test_path is not None and self.train_path is None:
            raise ValueError("dataset.test_path needs dataset.train_path (use train_path instead of path)")
        if self.sheet is not None and not all(str(f).lower().endswith(SHEET_SUFFIXES) for f in
                                              (self.path, self.train_path, self.test_path) if f is not None):
            raise ValueError("dataset.sheet names a sheet of a spreadsheet: the files must be .xlsx")
        if self.decimal == "," and self.separator() == ",":
            raise ValueError("dataset.decimal ',' needs another field separator: set dataset.delimiter (e.g. ';')")
        if self.text_column is not None and (self.features or self.categorical):
            raise ValueError("dataset.text_column classifies text; it cannot be combined with "
                             "dataset.features or dataset.categorical")
        if self.columns is not None:
            dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
            if dupes:
                raise ValueError(f"dataset.columns: {', '.join(dupes)} named more than once")
            if self.header == "true":
                raise ValueError("dataset.columns names a header-less file's columns; it cannot be combined "
                                 "with dataset.header: true")
        return self

    @model_validator(mode="after")
    def _image_rules(self):
        from aimodel.section import rule

        if self.image_column is None:
            # Compared with the defaults: a saved config.yaml writes every key.
            image_keys = [k for k, f in {**ImageOptions.model_fields, **ImageFileOptions.model_fields}.items()
                          if getattr(self, k) != f.get_default(call_default_factory=True)]
            if image_keys:
                raise rule(image_keys[0], "applies to images (dataset.image_column names a column of image "
                                          "paths); remove it for a table or a text column")
            return self
        clash = [k for k in ("text_column", "features", "categorical", "zero_means_missing") if getattr(self, k)]
        if clash:
            raise rule("image_column", f"the images are the input; it cannot be combined with dataset.{clash[0]}")
        if self.image_column in self.label_columns():
            raise rule("image_column", f"'{self.image_column}' is the label column")
        return self

    def layout(self) -> CsvLayout:
        return CsvLayout(header=self.header, columns=self.columns, label=self.label, missing=self.missing_values,
                         delimiter=self.delimiter, decimal=self.decimal, sheet=self.sheet)

    def separator(self) -> str:
        """The training file's field separator (``delimiter``, or what its suffix implies)."""
        return table_delimiter(str(self.path or self.train_path), self.delimiter)

    def label_columns(self) -> list[str]:
        """``dataset.label`` as a list (several columns only for task: regression)."""
        return list(self.label) if isinstance(self.label, list) else [self.label]


def _column(path: Path, header: list[str], rows, name: str, what: str) -> list[str]:
    if name not in header:
        from aimodel.registry import did_you_mean

        raise DataError(f"{path}: no column '{name}' ({what}){did_you_mean(name, header)}; "
                        f"columns: {', '.join(header)}")
    i = header.index(name)
    return [row[i].strip() for row in rows]


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


def _sorted_labels(labels: list[str]) -> list[str]:
    unique = sorted(set(labels))
    if all(_is_number(v) for v in unique):
        unique.sort(key=float)
    return unique


def _named(codes: list[str], given) -> list[str]:
    """The class name of each label code, from ``dataset.class_names`` (a mapping or a list)."""
    if given is None:
        return codes
    if isinstance(given, list):
        if len(given) != len(codes):
            raise DataError(f"dataset.class_names: lists {len(given)} names, the labels have {len(codes)} "
                            f"values ({', '.join(codes)})")
        names = [str(n) for n in given]
    else:
        names = []
        for code in codes:
            match = [v for k, v in given.items() if str(k) == code
                     or (_is_number(code) and not isinstance(k, str) and float(k) == float(code))]
            if not match:
                raise DataError(f"dataset.class_names: no name for label {code!r} (labels: {', '.join(codes)})")
            names.append(str(match[0]))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"dataset.class_names: {', '.join(dupes)} given to more than one label")
    return names


def _read(path: Path, cfg: CsvDataset):
    try:
        return read_csv(path, None, cfg.encoding, cfg.encoding_errors, cfg.layout())
    except UndecodableText as exc:
        raise DataError(f"{exc}; {UndecodableText.HINT}") from None


def _labelled(path: Path, table, cfg: CsvDataset, cells: MissingCells, task: str = "classification"):
    """The table's rows that have a label, their label cells (one list per label column), line numbers, and
    how many rows had none. Multilabel: an empty cell is a row with no label, not a missing one."""
    columns = [_column(path, table.header, table.rows, c, "dataset.label") for c in cfg.label_columns()]

    def missing(v: str) -> bool:
        return cells.missing(v) and not (task == "multilabel" and v.strip() == "")

    keep = [i for i in range(len(table.rows)) if not any(missing(col[i]) for col in columns)]
    if not keep:
        raise DataError(f"{path}: the label column '{cfg.label}' is missing in every row")
    rows = [table.rows[i] for i in keep]
    labels = [[col[i] for i in keep] for col in columns]
    return rows, labels, [table.lines[i] for i in keep], len(table.rows) - len(keep)


def _targets(path: Path, labels: list[list[str]], lines: list[int], cfg: CsvDataset, task: str,
             names: list[str]):
    """``Split.y`` for the task: class indices, float targets or multi-hot label sets."""
    import numpy as np

    from aimodel.data import targets

    if task == "regression":
        return targets.number_targets(path, dict(zip(cfg.label_columns(), labels)), lines, cfg.separator() == ",")
    if task == "multilabel":
        sets = targets.label_sets(path, cfg.label, labels[0], cfg.label_separator)
        return targets.multi_hot(sets, names, path)
    unseen = sorted(set(labels[0]) - set(names))
    if unseen:
        shown = ", ".join(repr(v) for v in unseen[:5]) + (" ..." if len(unseen) > 5 else "")
        raise DataError(f"{path}: column '{cfg.label}' has label(s) {shown} that never occur in the training data")
    return np.array([names.index(v) for v in labels[0]], np.int64)


def _outputs(path: Path, labels: list[list[str]], cfg: CsvDataset, task: str) -> tuple[list[str], list[str]]:
    """(label codes as the file writes them, output names) from the training file's label cells."""
    if isinstance(cfg.label, list) and task != "regression":
        raise DataError(f"dataset.label: lists {len(cfg.label)} columns; several target columns need "
                        "task: regression")
    if task == "regression":
        return cfg.label_columns(), cfg.label_columns()
    if task == "multilabel":
        from aimodel.data.targets import label_sets

        names = sorted({v for row in label_sets(path, cfg.label, labels[0], cfg.label_separator) for v in row})
        return names, names
    codes = _sorted_labels(labels[0])
    return codes, _named(codes, cfg.class_names)


def _kinds(path: Path, header, rows, features: list[str], cfg: CsvDataset, cells: MissingCells) -> dict:
    for key in ("categorical", "zero_means_missing"):
        for col in getattr(cfg, key):
            if col not in features:
                raise DataError(f"dataset.{key}: '{col}' is not a feature column ({', '.join(features)})")
    kinds = {}
    for col in features:
        values = [v for v in _column(path, header, rows, col, "dataset.features") if not cells.missing(v)]
        if not values:
            raise DataError(f"{path}: column '{col}' is missing in every row (leave it out with dataset.features)")
        numeric = col not in cfg.categorical and all(is_number(v, cells.commas) for v in values)
        if not numeric and col not in cfg.categorical and cfg.separator() != ",":
            _refuse_decimal_commas(path, col, values)
        if col in cfg.zero_means_missing and not numeric:
            raise DataError(f"dataset.zero_means_missing: '{col}' is not a numeric column")
        kinds[col] = "numeric" if numeric else "categorical"
    return kinds


def _refuse_decimal_commas(path: Path, col: str, values: list[str]) -> None:
    """A column of numbers written with a decimal comma would silently become hundreds of categories."""
    commas = [v for v in values if "," in v]
    if commas and all(DECIMAL_COMMA.fullmatch(v) or _is_number(v) for v in values):
        raise DataError(f"{path}: column '{col}' holds numbers with a decimal comma ({commas[0]}): set "
                        "dataset.decimal: ',' (or list the column in dataset.categorical to keep its values as "
                        "categories)")


def _features(path: Path, header, rows, features, kinds, cfg: CsvDataset, cells: MissingCells, lines: list[int]):
    import numpy as np

    x = {}
    for col in features:
        values = _column(path, header, rows, col, "dataset.features")
        if kinds[col] == "categorical":
            arr = np.empty(len(values), dtype=object)
            arr[:] = [cells.category(v) for v in values]
            x[col] = arr
            continue
        numbers = []
        for i, v in enumerate(values):
            try:
                numbers.append(cells.number(v))
            except ValueError:
                raise DataError(
                    f"{path}: line {lines[i]}, column '{col}': {v!r} is not a number (the column is numeric "
                    f"in the training data; add it to dataset.missing_values if it means missing, or list the "
                    f"column in dataset.categorical)"
                ) from None
        x[col] = np.array(numbers, np.float32)
        if col in cfg.zero_means_missing:
            x[col][x[col] == 0] = np.nan
    return x


def _csv_keys(cfg: CsvDataset, codes: list[str], task: str, table) -> dict:
    """The InputSpec fields every CSV model keeps, so evaluate --data, predict and serve read files alike.

    A training file without a header keeps the names its columns got (``column_1`` ...): a one-row file
    is then read as data, whatever its cells, and a file may leave out the label column."""
    columns = cfg.columns if cfg.columns is not None or table.has_header else table.header
    return dict(label_column=cfg.label_columns()[0], encoding=cfg.encoding, encoding_errors=cfg.encoding_errors,
                header=cfg.header, file_columns=columns, missing_values=list(cfg.missing_values),
                delimiter=cfg.delimiter, decimal=cfg.decimal if cfg.decimal != "." else None, sheet=cfg.sheet,
                label_values=codes if cfg.class_names is not None and task == "classification" else None,
                label_separator=cfg.label_separator if task == "multilabel" else None)


def _load_images(cfg: CsvDataset, seed: int, task: str):
    """``dataset.image_column``: the images each row names (see :mod:`aimodel.data.imagecsv`), streamed or
    cached as an image folder's are."""
    import numpy as np

    from aimodel.data.imagecsv import image_files, scan_image_column
    from aimodel.data.imagefiles import choose_cache, sample_shape

    cells = MissingCells(cfg.missing_values, cfg.separator() == ",")
    parts, tables, dropped = [], [], 0
    for file in [cfg.path or cfg.train_path] + ([cfg.test_path] if cfg.test_path is not None else []):
        table = _read(file, cfg)
        tables.append(table)
        rows, labels, lines, n = _labelled(file, table, cfg, cells, task)
        dropped += n
        if task != "classification":  # a non-numeric target or a separator never used fails before any image is read
            _targets(file, labels, lines, cfg, task, _outputs(file, labels, cfg, task)[1])
        paths = [("" if cells.missing(v) else v)
                 for v in _column(file, table.header, rows, cfg.image_column, "dataset.image_column")]
        found = scan_image_column(file, paths, lines, cfg.image_column, cfg.on_bad_file)
        parts.append((file, found, [[col[i] for i in found.keep] for col in labels], [lines[i] for i in found.keep]))
    train_file, train_rows, train_labels, _ = parts[0]
    codes, names = _outputs(train_file, train_labels, cfg, task)  # from the rows whose image reads
    shape = sample_shape(cfg.image_size, cfg.color_mode, train_rows.sizes, train_rows.modes)
    splits = [Split(image_files(found, shape), _targets(file, labels, lines, cfg, task,
                                                        codes if task == "classification" else names))
              for file, found, labels, lines in parts]
    if len(splits) == 2:
        train, test = splits
    else:
        train, test = holdout_split(splits[0].x, splits[0].y, cfg.test_split, seed, "dataset.test_split", task)
    # Training decodes the training and validation images; evaluate decodes the test images in its own process.
    cache, cache_note = choose_cache(cfg.cache, len(train) * int(np.prod(shape)), cfg.cache_memory_mb)
    train.x.cache = test.x.cache = cache
    spec = InputSpec(kind="image", shape=shape, class_names=names, image_column=cfg.image_column,
                     **_csv_keys(cfg, codes, task, tables[0]))
    skipped = [s for _, found, _, _ in parts for s in found.skipped]
    notes = {"source": "csv", "files": [str(file) for file, *_ in parts], "dropped_rows": dropped,
             "skipped": skipped, "image_cache": cache_note, "modes": dict(train_rows.modes),
             "sizes": {f"{h}x{w}": k for (h, w), k in train_rows.sizes.most_common(10)}}
    if dropped:
        log.warning("%d row(s) without a label ('%s' missing) were left out", dropped, cfg.label)
    if skipped:
        log.warning("%d row(s) whose image could not be read were left out (listed in data.json)", len(skipped))
    return finish_bundle(train, test, names, cfg.validation_split, seed, spec=spec, notes=notes, task=task)


@DATASETS.register("csv")
def load_csv(cfg: CsvDataset, seed: int, task: str = "classification"):
    import numpy as np

    if cfg.image_column is not None:
        return _load_images(cfg, seed, task)
    cells = MissingCells(cfg.missing_values, cfg.separator() == ",")
    train_file = cfg.path or cfg.train_path
    train_table = _read(train_file, cfg)
    header = train_table.header
    rows, train_labels, lines, dropped = _labelled(train_file, train_table, cfg, cells, task)
    codes, names = _outputs(train_file, train_labels, cfg, task)
    if cfg.text_column is not None:
        features = [cfg.text_column]
        kinds = {}
    else:
        features = cfg.features if cfg.features is not None else [h for h in header if h not in cfg.label_columns()]
        listed = [c for c in cfg.label_columns() if c in features]
        if listed:
            raise DataError(f"dataset.features: lists the label column '{listed[0]}'")
        if not features:
            raise DataError(f"{train_file}: no feature columns beside the label '{cfg.label}'")
        kinds = _kinds(train_file, header, rows, features, cfg, cells)

    def table(path: Path, table, rows, labels, lines):
        y = _targets(path, labels, lines, cfg, task, codes if task == "classification" else names)
        if cfg.text_column is not None:
            x = np.empty(len(rows), dtype=object)
            x[:] = _column(path, table.header, rows, cfg.text_column, "dataset.text_column")
            return Split(x, y)
        return Split(_features(path, table.header, rows, features, kinds, cfg, cells, lines), y)

    train = table(train_file, train_table, rows, train_labels, lines)
    if cfg.test_path is not None:
        test_table = _read(cfg.test_path, cfg)
        test_rows, test_labels, test_lines, test_dropped = _labelled(cfg.test_path, test_table, cfg, cells, task)
        dropped += test_dropped
        test = table(cfg.test_path, test_table, test_rows, test_labels, test_lines)
    else:
        train, test = holdout_split(train.x, train.y, cfg.test_split, seed, "dataset.test_split", task)
    csv_keys = _csv_keys(cfg, codes, task, train_table)
    if cfg.text_column is not None:
        spec = InputSpec(kind="text", shape=(), class_names=names, max_tokens=cfg.max_tokens,
                         sequence_length=cfg.sequence_length, text_column=cfg.text_column, **csv_keys)
    else:
        columns = [{"name": c, "type": kinds[c]} for c in features]
        for c in columns:
            if c["name"] in cfg.zero_means_missing:
                c["zero_means_missing"] = True
        spec = InputSpec(kind="tabular", shape=(len(features),), class_names=names, columns=columns,
                         impute=cfg.impute, **csv_keys)
    notes = {"source": "csv", "files": [str(train_file)] + ([str(cfg.test_path)] if cfg.test_path else []),
             "dropped_rows": dropped}
    if dropped:
        log.warning("%d row(s) without a label ('%s' missing) were left out", dropped, cfg.label)
    return finish_bundle(train, test, names, cfg.validation_split, seed, spec=spec, notes=notes, task=task)
