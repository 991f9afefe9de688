"""Which samples evaluate scores: a split of the run's own data, or another dataset with the same classes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from aimodel.data.files import SHEET_SUFFIXES, TABLE_SUFFIXES
from aimodel.data.spec import InputSpec
from aimodel.errors import CheckpointError, DataError
from aimodel.evaluation.files import read_class_folders, read_labelled_csv
from aimodel.evaluation.labels import align_labels
from aimodel.inference.checkpoint import Checkpoint
from aimodel.tasks import task_of

SPLITS = ("test", "val", "train")
CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass
class EvalData:
    """Samples in the model's data kind (``Split.x`` layout) and labels in the model's class order."""

    x: Any
    y: np.ndarray
    #: says where the samples come from, for reports ("test split of runs/q/1/config.yaml")
    description: str
    #: short name for the default output folder ("test", "val", "my_photos")
    name: str
    #: the run's own test split: fingerprint-checked; its reports go into the run directory itself
    own_test: bool = False
    note: Optional[str] = None
    #: each sample's file or CSV line, when it came from files (shown in errors.csv)
    inputs: Optional[list[str]] = None


def load_eval_data(ckpt: Checkpoint, spec: InputSpec, split: str = "test", data: str | Path | None = None,
                   *, input_dtypes: Optional[dict[str, str]] = None, label: Optional[str] = None) -> EvalData:
    """Rebuild a split of the run's data, or read ``data``: a config file, an ``.npz``, a folder or a CSV.

    Folders (``<class>/<files>``) and CSV files are read the way ``predict`` reads
    them, so the score is the one predict would get on those files.

    Args:
        input_dtypes: the model's input dtypes (numeric or string table columns).
        label: the CSV column with the class (default: the run's ``dataset.label``, else ``label``).

    Raises:
        DataError: the data cannot be read, has another kind or shape, or has classes the model lacks.
    """
    if split not in SPLITS:
        raise DataError(f"--split: expected one of {', '.join(SPLITS)}, got '{split}'")
    if data is None:
        return _own_split(ckpt, split)
    path = Path(data)
    if path.suffix.lower() in CONFIG_SUFFIXES:
        return _config_split(path, spec, split)
    task = task_of(spec).name
    if task != "classification" and (path.suffix.lower() == ".npz" or path.is_dir()):
        raise DataError(f"--data {path}: .npz files and class folders hold one class per sample; for this "
                        f"{task} model pass a CSV file with its label column(s), or a config file")
    if path.suffix.lower() == ".npz":
        return _npz(path, spec, split)
    if path.is_dir():
        x, y, inputs = read_class_folders(path, spec, input_dtypes or {})
        return EvalData(x, y, f"{path} (class folders)", path.name, inputs=inputs)
    if path.suffix.lower() in TABLE_SUFFIXES + SHEET_SUFFIXES and path.is_file():
        x, y, inputs = read_labelled_csv(path, spec, input_dtypes or {}, label)
        return EvalData(x, y, str(path), path.stem, inputs=inputs)
    if not path.exists():
        raise DataError(f"--data {path}: no such file or folder")
    raise DataError(f"--data {path}: expected a config file (.yaml), an .npz, a folder or a CSV file")


def _pick(bundle, split: str, where: str):
    chosen = {"test": bundle.test, "val": bundle.val, "train": bundle.train}[split]
    if chosen is None:
        raise DataError(f"{where} has no validation split (dataset.validation_split is 0); use --split test")
    if len(chosen) == 0:
        raise DataError(f"the {split} split of {where} is empty")
    return chosen


def _own_split(ckpt: Checkpoint, split: str) -> EvalData:
    from aimodel.config import load_config
    from aimodel.data import load_data
    from aimodel.data.base import fingerprint
    from aimodel.data.records import recorded_test_split

    if ckpt.run_dir is None or not (ckpt.run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"{ckpt.model_path}: evaluate needs the run directory (config.yaml and meta.json beside the model) "
            "to rebuild the test split, or --data with a dataset to score"
        )
    config = ckpt.run_dir / "config.yaml"
    cfg = load_config(config)
    # File sources list their test files in split.json (files added later cannot change the test set).
    chosen = recorded_test_split(ckpt.run_dir, cfg, ckpt.spec) if split == "test" and ckpt.spec else None
    if chosen is None:
        chosen = _pick(load_data(cfg.dataset, cfg.seed, cfg.task), split, str(config))
    expected = ckpt.meta.get("test_fingerprint")
    if split == "test" and expected and fingerprint(chosen) != expected:
        raise DataError(
            f"the test split rebuilt from {config} differs from the one this run was "
            "trained beside (the data file changed?); refusing to report a score on different data"
        )
    note = "the model was trained on these samples: this is not a held-out score" if split == "train" else None
    return EvalData(chosen.x, chosen.y, f"{split} split of {config}", split, own_test=split == "test", note=note)


def _config_split(path: Path, spec: InputSpec, split: str) -> EvalData:
    from aimodel.config import load_config
    from aimodel.data import load_data

    cfg = load_config(path)
    bundle = load_data(cfg.dataset, cfg.seed, cfg.task)
    chosen = _pick(bundle, split, str(path))
    what = f"--data {path}"
    other = bundle.spec
    if other.kind != spec.kind:
        raise DataError(f"{what}: {other.kind} data, but the model takes {spec.kind} data")
    if other.kind in ("image", "sequence") and tuple(other.shape) != tuple(spec.shape):
        raise DataError(f"{what}: samples of shape {tuple(other.shape)}, but the model takes {tuple(spec.shape)}")
    if task_of(other).name != task_of(spec).name:
        raise DataError(f"{what}: its task is {task_of(other).name}, the model's {task_of(spec).name}")
    y = _aligned_answers(chosen.y, other, spec, what)
    return EvalData(chosen.x, y, f"{split} split of {path}", f"{path.stem}-{split}" if split != "test" else path.stem)


def _aligned_answers(y: np.ndarray, other: InputSpec, spec: InputSpec, what: str) -> np.ndarray:
    """Another dataset's labels in the model's layout: classes and labels matched by name, targets the same."""
    task = task_of(spec).name
    if task == "classification":
        return align_labels(y, other.class_names, spec.class_names, what)
    names, wanted = list(other.class_names), list(spec.class_names)
    if task == "regression":
        if names != wanted:
            raise DataError(f"{what}: targets {', '.join(names)}, but the model predicts {', '.join(wanted)}")
        return y
    unknown = [n for n in names if n not in wanted]
    if unknown:
        raise DataError(f"{what}: label(s) {', '.join(map(repr, unknown))} are not labels of the model; "
                        f"the model knows: {', '.join(wanted)}")
    out = np.zeros((len(y), len(wanted)), np.float32)
    out[:, [wanted.index(n) for n in names]] = y
    return out


def _npz(path: Path, spec: InputSpec, split: str) -> EvalData:
    """``x, y`` (a whole evaluation set), or else ``x_<split>, y_<split>`` (Keras' mnist.npz layout)."""
    from aimodel.data.base import to_images, to_labels

    what = f"--data {path}"
    if not path.is_file():
        raise DataError(f"{what}: no such file")
    if spec.kind != "image":
        raise DataError(f"{what}: .npz files hold images; this model takes {spec.kind} data")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = ("x", "y") if {"x", "y"} <= set(f.files) else (f"x_{split}", f"y_{split}")
            if not set(keys) <= set(f.files):
                raise DataError(f"{what}: expected arrays x and y (or {keys[0]} and {keys[1]}); "
                                f"found {', '.join(f.files) or 'none'}")
            x, y = f[keys[0]], f[keys[1]]
            names = [str(n) for n in f["class_names"]] if "class_names" in f.files else None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{what}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    x, y = to_images(x, f"{what}: {keys[0]}"), to_labels(y, f"{what}: {keys[1]}")
    if len(x) != len(y) or not len(y):
        raise DataError(f"{what}: {keys[0]} has {len(x)} samples and {keys[1]} has {len(y)}")
    if tuple(x.shape[1:]) != tuple(spec.shape):
        raise DataError(f"{what}: images of shape {tuple(x.shape[1:])}, but the model takes {tuple(spec.shape)}")
    if names is None:
        n = len(spec.class_names)
        if y.min() < 0 or y.max() >= n:
            raise DataError(f"{what}: labels must be 0..{n - 1} (the model's {n} classes), found "
                            f"{int(y.min()) if y.min() < 0 else int(y.max())}")
        names = list(spec.class_names)
    elif y.min() < 0 or y.max() >= len(names):
        raise DataError(f"{what}: labels must index class_names (0..{len(names) - 1})")
    y = align_labels(y, names, spec.class_names, what)
    name = path.stem if keys == ("x", "y") or split == "test" else f"{path.stem}-{split}"
    return EvalData(x, y, f"{path} ({keys[0]}, {keys[1]})", name)
