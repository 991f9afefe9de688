"""Text datasets that Keras downloads (IMDB, Reuters), each also readable from a local copy.

They come as word-index sequences; they are decoded back to text with the word
index file (``dataset.word_index``, Keras' ``*_word_index.json``), so the model
learns its own vocabulary (TextVectorization) and predicts on raw sentences.
The sequence arrays are pickled object arrays, read with
:mod:`aimodel.data.safe_pickle`, which only rebuilds arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, absolute_path, finish_bundle, stratified_split, to_labels
from aimodel.data.download import download, keras_cache_file, keras_loader
from aimodel.data.options import TextOptions
from aimodel.data.spec import InputSpec
from aimodel.errors import DataError


class _KerasText(TextOptions, DatasetBase):
    word_index: Optional[FilePath] = Field(
        None,
        description="Keras' word index JSON (imdb_word_index.json / reuters_word_index.json), used to turn "
        "the sequences back into text; default: the Keras cache.",
    )

    _abs_wi = field_validator("word_index")(absolute_path)


class ImdbDataset(_KerasText):
    """IMDB movie reviews (25,000 + 25,000), positive or negative, as text."""

    name: Literal["imdb"] = "imdb"
    path: Optional[FilePath] = Field(None, description="A local imdb.npz (Keras' layout); default: the Keras cache.")

    _abs = field_validator("path")(absolute_path)


class ReutersDataset(_KerasText):
    """Reuters newswires (11,228), 46 topics, as text; split by dataset.test_split."""

    name: Literal["reuters"] = "reuters"
    path: Optional[FilePath] = Field(None, description="A local reuters.npz (Keras' layout); default: the Keras cache.")
    test_split: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction held out as the test split (stratified, seeded).")

    _abs = field_validator("path")(absolute_path)


def _word_index(cfg, dataset: str) -> dict[int, str]:
    fname = f"{dataset}_word_index.json"
    path = cfg.word_index or download(keras_cache_file(fname), dataset, keras_loader(dataset, "get_word_index"),
                                       f"dataset.word_index: /path/to/{fname}")
    try:
        index = json.loads(Path(path).read_text(encoding="utf-8"))
        return {int(rank): str(word) for word, rank in index.items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise DataError(f"{path}: not a word index (a JSON object of word → rank): {exc}") from None


def _decode(sequences, words: dict[int, str], what: str):
    import numpy as np

    out = np.empty(len(sequences), dtype=object)
    try:
        out[:] = [" ".join(words[w] for w in seq if w in words) for seq in sequences]
    except TypeError:
        raise DataError(f"{what}: expected sequences of word ranks (lists of integers)") from None
    return out


def _arrays(path: Path, keys: tuple[str, ...]) -> dict:
    from aimodel.data.safe_pickle import load_npz

    arrays = load_npz(path)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)}; found {', '.join(arrays) or 'none'} "
                        f"(expected {', '.join(keys)})")
    return arrays


def _text_spec(cfg, class_names: Optional[list[str]] = None) -> InputSpec:
    return InputSpec(kind="text", shape=(), class_names=list(class_names or []), max_tokens=cfg.max_tokens,
                     sequence_length=cfg.sequence_length)


@DATASETS.register("imdb")
def load_imdb(cfg: ImdbDataset, seed: int):
    path = cfg.path or download(keras_cache_file("imdb.npz"), "imdb", keras_loader("imdb"),
                                 "dataset.path: /path/to/imdb.npz")
    arrays = _arrays(path, ("x_train", "y_train", "x_test", "y_test"))
    words = _word_index(cfg, "imdb")
    train = Split(_decode(arrays["x_train"], words, f"{path}: x_train"), to_labels(arrays["y_train"], f"{path}: y_train"))
    test = Split(_decode(arrays["x_test"], words, f"{path}: x_test"), to_labels(arrays["y_test"], f"{path}: y_test"))
    return finish_bundle(train, test, IMDB_NAMES, cfg.validation_split, seed, spec=_text_spec(cfg))


@DATASETS.register("reuters")
def load_reuters(cfg: ReutersDataset, seed: int):
    path = cfg.path or download(keras_cache_file("reuters.npz"), "reuters", keras_loader("reuters"),
                                 "dataset.path: /path/to/reuters.npz")
    arrays = _arrays(path, ("x", "y"))
    words = _word_index(cfg, "reuters")
    y = to_labels(arrays["y"], f"{path}: y")
    x = _decode(arrays["x"], words, f"{path}: x")
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    train, test = stratified_split(x, y, cfg.test_split, seed, "dataset.test_split")
    n = int(y.max()) + 1
    names = list(REUTERS_NAMES) if n <= len(REUTERS_NAMES) else [str(i) for i in range(n)]
    return finish_bundle(train, test, names[:n], cfg.validation_split, seed, spec=_text_spec(cfg))


IMDB_NAMES = ["negative", "positive"]
#: keras.datasets.reuters.get_label_names(), without importing Keras.
REUTERS_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


load_imdb.describe = lambda cfg: _text_spec(cfg, IMDB_NAMES)
load_reuters.describe = lambda cfg: _text_spec(cfg, REUTERS_NAMES)
