"""Image datasets that Keras downloads (MNIST, Fashion-MNIST, CIFAR-10/100), each also readable from a local copy.

``dataset.path`` points at the file(s) Keras would download, in the same layout;
without it the Keras cache (``~/.keras/datasets`` or ``$KERAS_HOME``) is used,
downloading if needed. Offline and without a copy, the error says where to put one.
CIFAR batches are pickles, read with :mod:`aimodel.data.safe_pickle`, which only
rebuilds arrays; archives are read in memory, never extracted to disk.

Each loader has a ``describe(dataset_cfg) -> InputSpec`` hook, so ``aimodel model
summary`` knows the input without downloading anything.
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, FilePath, field_validator

from aimodel.data.base import DATASETS, DatasetBase, Split, absolute_path, finish_bundle, to_images
from aimodel.data.download import download, keras_cache_file, keras_loader
from aimodel.data.npz import read_npz
from aimodel.data.options import ImageOptions, apply_image_options
from aimodel.data.spec import InputSpec
from aimodel.errors import DataError

DIGIT_NAMES = [str(i) for i in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz")


def _image_spec(cfg, native: tuple[int, int, int], class_names: list[str]) -> InputSpec:
    """The input of a Keras image set without loading it, with ``image_size``/``color_mode`` applied."""
    height, width = cfg.image_size or native[:2]
    channels = {"grayscale": 1, "rgb": 3}.get(cfg.color_mode, native[2])
    return InputSpec(kind="image", shape=(int(height), int(width), channels), class_names=list(class_names))


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
    path = cfg.path or download(keras_cache_file("mnist.npz"), "mnist", keras_loader("mnist"),
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
    folder = cfg.path or download(
        keras_cache_file("fashion-mnist") / FASHION_FILES[3], "fashion_mnist", keras_loader("fashion_mnist"),
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
    return download(keras_cache_file(f"{folder}-target") / folder, module, keras_loader(module), hint)


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


load_mnist.describe = lambda cfg: _image_spec(cfg, (28, 28, 1), DIGIT_NAMES)
load_fashion_mnist.describe = lambda cfg: _image_spec(cfg, (28, 28, 1), FASHION_NAMES)
load_cifar10.describe = lambda cfg: _image_spec(cfg, (32, 32, 3), CIFAR10_NAMES)
load_cifar100.describe = lambda cfg: _image_spec(
    cfg, (32, 32, 3), [str(i) for i in range(20 if cfg.label_mode == "coarse" else 100)])
