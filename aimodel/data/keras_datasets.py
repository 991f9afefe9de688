"""Datasets that Keras downloads (``keras.datasets``), each also readable from a local copy.

``dataset.path`` points at the file(s) Keras would download, in the same layout;
without it the Keras cache (``~/.keras/datasets`` or ``$KERAS_HOME``) is used,
downloading if needed. Offline and without a copy, the error says where to put one.

Pickled content (CIFAR batches, the IMDB/Reuters sequence arrays) is read with
:mod:`aimodel.data.safe_pickle`, which only rebuilds arrays; archives are read in
memory, never extracted to disk.

IMDB and Reuters come as word-index sequences; they are decoded back to text with
the word index file (``dataset.word_index``, Keras' ``*_word_index.json``), so the
model learns its own vocabulary (TextVectorization) and predicts on raw sentences.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from pathlib import Path
from typing import Callable, Literal, Optional

from pydantic import Field, FilePath, field_validator

from aimodel.data.base import DATASETS, DatasetBase, absolute_path, Split, finish_bundle, stratified_split, to_images
from aimodel.data.spec import InputSpec
from aimodel.data.npz import read_npz
from aimodel.data.options import ImageOptions, TextOptions, apply_image_options
from aimodel.errors import DataError

FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz")


def keras_cache_file(fname: str) -> Path:
    """Where ``keras.utils.get_file`` keeps a downloaded dataset file."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets" / fname


def _download(cached: Path, dataset: str, fetch: Callable[[], object], hint: str) -> Path:
    """Return ``cached`` once it exists, calling Keras' downloader if it does not yet."""
    if cached.exists():
        return cached
    try:
        fetch()
    except Exception as exc:  # URLError, socket errors, "Failed to download"
        raise DataError(
            f"cannot download the files of dataset '{dataset}' "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no details'}). "
            f"If this machine is offline, either copy them to the Keras cache at {cached} "
            f"or point the config at a local copy with `{hint}`"
        ) from None
    if not cached.exists():
        raise DataError(f"dataset '{dataset}': Keras finished downloading but {cached} does not exist")
    return cached


def _keras_loader(module: str, function: str = "load_data") -> Callable[[], object]:
    def fetch():
        import keras

        return getattr(getattr(keras.datasets, module), function)()

    return fetch


class _KerasImages(ImageOptions, DatasetBase):
    pass


# --- mnist ----------------------------------------------------------------------------------


class MnistDataset(_KerasImages):
    """MNIST (60,000 + 10,000 28×28 digits) through ``keras.datasets.mnist``."""

    name: Literal["mnist"] = "mnist"
    path: Optional[FilePath] = Field(
        None,
        description="A local mnist.npz (same layout as Keras' download); "
        "by default the Keras cache, downloading if needed.",
    )

    _abs = field_validator("path")(absolute_path)


@DATASETS.register("mnist")
def load_mnist(cfg: MnistDataset, seed: int):
    path = cfg.path or _download(keras_cache_file("mnist.npz"), "mnist", _keras_loader("mnist"),
                                 "dataset.path: /path/to/mnist.npz")
    bundle = read_npz(path, None, cfg.validation_split, seed)
    apply_image_options(bundle, cfg)
    return bundle


# --- fashion_mnist --------------------------------------------------------------------------


class FashionMnistDataset(_KerasImages):
    """Fashion-MNIST (60,000 + 10,000 28×28 clothing images, 10 classes)."""

    name: Literal["fashion_mnist"] = "fashion_mnist"
    path: Optional[Path] = Field(
        None,
        description="A folder holding Keras' four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz); default: the Keras cache.",
    )

    _abs = field_validator("path")(absolute_path)


def _read_idx(path: Path, images: bool):
    import numpy as np

    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .gz file ({exc})") from None
    magic, dims = (2051, 3) if images else (2049, 1)
    header = 4 + 4 * dims
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{path}: not an IDX {'image' if images else 'label'} file (magic number {magic} expected)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(data) - header != int(np.prod(shape)):
        raise DataError(f"{path}: holds {len(data) - header} bytes of data, expected {int(np.prod(shape))} for {shape}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


@DATASETS.register("fashion_mnist")
def load_fashion_mnist(cfg: FashionMnistDataset, seed: int):
    folder = cfg.path or _download(
        keras_cache_file("fashion-mnist") / FASHION_FILES[3], "fashion_mnist", _keras_loader("fashion_mnist"),
        "dataset.path: /path/to/fashion-mnist/",
    ).parent
    if not folder.is_dir():
        raise DataError(f"dataset.path: {folder} is not a folder; point it at the folder holding {FASHION_FILES[1]} "
                        "and the other three files")
    missing = [f for f in FASHION_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)} (Keras' Fashion-MNIST layout has all four .gz files)")
    y_train, x_train, y_test, x_test = (_read_idx(folder / f, "images" in f) for f in FASHION_FILES)
    for what, x, y in (("train", x_train, y_train), ("t10k", x_test, y_test)):
        if len(x) != len(y):
            raise DataError(f"{folder}: {what} has {len(x)} images but {len(y)} labels")
    train = Split(to_images(x_train, "fashion_mnist x_train"), y_train.astype("int64"))
    test = Split(to_images(x_test, "fashion_mnist x_test"), y_test.astype("int64"))
    names = FASHION_NAMES if int(max(y_train.max(), y_test.max())) < 10 else None
    if names is None:
        raise DataError(f"{folder}: labels go above 9; Fashion-MNIST has 10 classes")
    bundle = finish_bundle(train, test, names, cfg.validation_split, seed)
    apply_image_options(bundle, cfg)
    return bundle


# --- cifar10 / cifar100 ---------------------------------------------------------------------


class Cifar10Dataset(_KerasImages):
    """CIFAR-10 (50,000 + 10,000 32×32 colour images, 10 classes)."""

    name: Literal["cifar10"] = "cifar10"
    path: Optional[Path] = Field(
        None,
        description="cifar-10-python.tar.gz as downloaded, or its extracted cifar-10-batches-py folder; "
        "default: the Keras cache.",
    )

    _abs = field_validator("path")(absolute_path)


class Cifar100Dataset(_KerasImages):
    """CIFAR-100 (50,000 + 10,000 32×32 colour images, 100 fine or 20 coarse classes)."""

    name: Literal["cifar100"] = "cifar100"
    path: Optional[Path] = Field(
        None,
        description="cifar-100-python.tar.gz as downloaded, or its extracted cifar-100-python folder; "
        "default: the Keras cache.",
    )
    label_mode: Literal["fine", "coarse"] = Field("fine", description="fine: 100 classes; coarse: 20 superclasses.")

    _abs = field_validator("path")(absolute_path)


def _cifar_members(path: Path, wanted: list[str], optional: list[str]) -> dict[str, bytes]:
    """The named members (by file name) of a CIFAR .tar.gz or extracted folder, as bytes."""
    found: dict[str, bytes] = {}
    if path.is_file():
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar.getmembers():
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and base in wanted + optional:
                        found[base] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .tar.gz archive ({exc})") from None
    elif path.is_dir():
        folders = [path] + [d for d in sorted(path.iterdir()) if d.is_dir()]
        for folder in folders:
            if (folder / wanted[0]).is_file():
                for name in wanted + optional:
                    if (folder / name).is_file():
                        found[name] = (folder / name).read_bytes()
                break
    else:
        raise DataError(f"dataset.path: {path} does not exist")
    missing = [n for n in wanted if n not in found]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} (expected Keras' CIFAR layout)")
    return found


def _cifar_batch(data: bytes, what: str, label_key: str):
    import numpy as np

    from aimodel.data.safe_pickle import loads

    batch = loads(data, what)
    if not isinstance(batch, dict):
        raise DataError(f"{what}: expected a dict of data and labels, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{what}: missing key(s) {'data' if 'data' not in batch else label_key} "
                        f"(found {', '.join(sorted(batch))})")
    x = np.asarray(batch["data"], np.uint8)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"{what}: data has shape {x.shape}, expected (N, 3072)")
    y = np.asarray(batch[label_key], np.int64).reshape(-1)
    if len(y) != len(x):
        raise DataError(f"{what}: {len(x)} images but {len(y)} labels")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _meta_names(data: Optional[bytes], key: str, what: str) -> Optional[list[str]]:
    if data is None:
        return None
    from aimodel.data.safe_pickle import loads

    meta = loads(data, what)
    meta = {k.decode() if isinstance(k, bytes) else k: v for k, v in meta.items()} if isinstance(meta, dict) else {}
    names = meta.get(key)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else None


def _cifar_bundle(train_parts, test_part, names, cfg, seed):
    import numpy as np

    x_train = np.concatenate([x for x, _ in train_parts])
    y_train = np.concatenate([y for _, y in train_parts])
    n = int(max(y_train.max(), test_part[1].max())) + 1
    if names is None or len(names) < n:
        names = [str(i) for i in range(n)]
    bundle = finish_bundle(Split(x_train, y_train), Split(*test_part), list(names), cfg.validation_split, seed)
    apply_image_options(bundle, cfg)
    return bundle


def _cifar_path(cfg, folder: str, module: str, hint: str) -> Path:
    if cfg.path is not None:
        return cfg.path
    return _download(keras_cache_file(f"{folder}-target") / folder, module, _keras_loader(module), hint)


@DATASETS.register("cifar10")
def load_cifar10(cfg: Cifar10Dataset, seed: int):
    path = _cifar_path(cfg, "cifar-10-batches-py", "cifar10", "dataset.path: /path/to/cifar-10-python.tar.gz")
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    files = _cifar_members(path, batches + ["test_batch"], ["batches.meta"])
    train = [_cifar_batch(files[b], f"{path}: {b}", "labels") for b in batches]
    test = _cifar_batch(files["test_batch"], f"{path}: test_batch", "labels")
    names = _meta_names(files.get("batches.meta"), "label_names", f"{path}: batches.meta") or CIFAR10_NAMES
    return _cifar_bundle(train, test, names, cfg, seed)


@DATASETS.register("cifar100")
def load_cifar100(cfg: Cifar100Dataset, seed: int):
    path = _cifar_path(cfg, "cifar-100-python", "cifar100", "dataset.path: /path/to/cifar-100-python.tar.gz")
    files = _cifar_members(path, ["train", "test"], ["meta"])
    key = f"{cfg.label_mode}_labels"
    train = [_cifar_batch(files["train"], f"{path}: train", key)]
    test = _cifar_batch(files["test"], f"{path}: test", key)
    names = _meta_names(files.get("meta"), f"{cfg.label_mode}_label_names", f"{path}: meta")
    return _cifar_bundle(train, test, names, cfg, seed)


# --- imdb / reuters -------------------------------------------------------------------------


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
    path = cfg.word_index or _download(keras_cache_file(fname), dataset, _keras_loader(dataset, "get_word_index"),
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


def _text_spec(cfg) -> InputSpec:
    return InputSpec(kind="text", shape=(), class_names=[], max_tokens=cfg.max_tokens,
                     sequence_length=cfg.sequence_length)


@DATASETS.register("imdb")
def load_imdb(cfg: ImdbDataset, seed: int):
    from aimodel.data.base import to_labels

    path = cfg.path or _download(keras_cache_file("imdb.npz"), "imdb", _keras_loader("imdb"),
                                 "dataset.path: /path/to/imdb.npz")
    arrays = _arrays(path, ("x_train", "y_train", "x_test", "y_test"))
    words = _word_index(cfg, "imdb")
    train = Split(_decode(arrays["x_train"], words, f"{path}: x_train"), to_labels(arrays["y_train"], f"{path}: y_train"))
    test = Split(_decode(arrays["x_test"], words, f"{path}: x_test"), to_labels(arrays["y_test"], f"{path}: y_test"))
    return finish_bundle(train, test, ["negative", "positive"], cfg.validation_split, seed, spec=_text_spec(cfg))


@DATASETS.register("reuters")
def load_reuters(cfg: ReutersDataset, seed: int):
    from aimodel.data.base import to_labels

    path = cfg.path or _download(keras_cache_file("reuters.npz"), "reuters", _keras_loader("reuters"),
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


#: keras.datasets.reuters.get_label_names(), without importing Keras.
REUTERS_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)
