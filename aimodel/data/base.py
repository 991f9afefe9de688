"""What every data source returns, the dataset registry and the shared split logic.

Image convention: every image source yields ``uint8`` arrays of shape
``(N, H, W, C)`` in 0..255 (or, for folder sources, an :class:`ImageFiles`
that decodes to such arrays on demand) and integer labels ``0..n_classes-1``;
scaling to 0..1 happens inside the model (a ``Rescaling`` layer), so a saved
model takes raw pixels and predict needs nothing but the image.

``Split.x`` per data kind: image → uint8 ``(N, H, W, C)`` or ``ImageFiles``;
text → object array of ``str`` ``(N,)``; tabular → ``dict`` column → 1-D array
(float32 numeric, ``str`` categorical); sequence → float32 ``(N, T, F)``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from pydantic import Field

from aimodel.data.spec import InputSpec
from aimodel.errors import DataError
from aimodel.registry import Registry
from aimodel.section import Section

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: name -> loader(dataset_config, seed) -> DataBundle
DATASETS: Registry[Callable[..., "DataBundle"]] = Registry("dataset")


class DatasetBase(Section):
    """Keys shared by every dataset source."""

    name: str = Field(..., description="Which source to load.")

    validation_split: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Fraction of the training data held out for validation "
        "(stratified, seeded). 0 turns validation off.",
    )


def absolute_path(path: Optional[Path]) -> Optional[Path]:
    """A field validator for dataset paths: saved run configs must still find the file from elsewhere."""
    return path.expanduser().resolve() if path is not None else None


@dataclass
class Split:
    """Samples and int64 labels of one split (see the module docstring for ``x`` per kind)."""

    x: "np.ndarray"
    y: "np.ndarray"

    def __len__(self) -> int:
        return int(len(self.y))

    @property
    def streamed(self) -> bool:
        """True when ``x`` holds image files decoded on demand (folder sources)."""
        from aimodel.data.imagefiles import ImageFiles

        return isinstance(self.x, ImageFiles)

    def take(self, idx) -> "Split":
        """The samples at integer positions ``idx`` (any kind of ``x``)."""
        import numpy as np

        idx = np.asarray(idx, dtype=np.int64)
        return Split(take(self.x, idx), self.y[idx])


def concat_splits(a: Split, b: Split) -> Split:
    """``a`` followed by ``b`` (same data kind), e.g. training and validation pooled for k-fold."""
    import numpy as np

    from aimodel.data.imagefiles import ImageFiles

    if isinstance(a.x, dict):
        x = {k: np.concatenate([a.x[k], b.x[k]]) for k in a.x}
    elif isinstance(a.x, ImageFiles):
        if not isinstance(b.x, ImageFiles) or a.x.root != b.x.root:
            raise DataError("cross-validation pools the training and validation files, which must come from "
                            "one folder (a separate val/ folder cannot be pooled; remove it or use validation_split)")
        x = ImageFiles(a.x.root, list(a.x.paths) + list(b.x.paths), a.x.sample_shape, a.x.cache)
    else:
        x = np.concatenate([np.asarray(a.x), np.asarray(b.x)])
    return Split(x, np.concatenate([a.y, b.y]))


def take(x, idx):
    """Index ``x`` of any data kind (array, dict of columns, ImageFiles) by integer positions."""
    if isinstance(x, dict):
        return {k: v[idx] for k, v in x.items()}
    return x[idx]


@dataclass
class DataBundle:
    train: Split
    val: Optional[Split]
    test: Split
    spec: InputSpec
    notes: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.spec.class_names)


def stratified_indices(y, fraction: float, seed: int, what: str):
    """Positions (kept, held_out) splitting off ``fraction`` of ``y``, stratified and seeded."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    n_classes = len(set(y.tolist()))
    n_held = int(round(len(y) * fraction))
    if n_held < n_classes or len(y) - n_held < n_classes:
        raise DataError(
            f"{what}={fraction} leaves {n_held} of {len(y)} samples held out, fewer than the "
            f"{n_classes} classes; use a larger fraction or more data"
        )
    try:
        kept, held = train_test_split(
            np.arange(len(y)), test_size=n_held, random_state=seed, stratify=y
        )
    except ValueError as exc:
        raise DataError(f"cannot make a stratified {what}: {exc}") from None
    return kept, held


def stratified_split(x, y, fraction: float, seed: int, what: str):
    """Split off ``fraction`` of (x, y), stratified by label; returns (kept, held_out)."""
    kept, held = stratified_indices(y, fraction, seed, what)
    whole = Split(x, y)
    return whole.take(kept), whole.take(held)


def random_split(x, y, fraction: float, seed: int, what: str):
    """Split off ``fraction`` of (x, y) at random, seeded (labels that are not classes: numbers, label sets)."""
    import numpy as np

    n_held = int(round(len(y) * fraction))
    if n_held < 1 or len(y) - n_held < 1:
        raise DataError(f"{what}={fraction} leaves {n_held} of {len(y)} samples held out; use a larger "
                        "fraction or more data")
    order = np.random.default_rng(seed).permutation(len(y))
    whole = Split(x, y)
    return whole.take(np.sort(order[n_held:])), whole.take(np.sort(order[:n_held]))


def holdout_split(x, y, fraction: float, seed: int, what: str, task: str = "classification"):
    """The task's way to hold out ``fraction``: stratified by class for classification, random otherwise."""
    if task == "classification":
        return stratified_split(x, y, fraction, seed, what)
    return random_split(x, y, fraction, seed, what)


def finish_bundle(
    train: Split,
    test: Split,
    class_names: list[str],
    validation_split: float,
    seed: int,
    *,
    val: Optional[Split] = None,
    spec: Optional[InputSpec] = None,
    notes: Optional[dict] = None,
    task: str = "classification",
) -> DataBundle:
    """Check labels, carve the validation split (unless ``val`` is given) and describe the inputs.

    Args:
        class_names: the model's outputs: classes, target columns (regression) or labels (multilabel).
        spec: the input description for non-image kinds (its ``class_names`` and ``task`` are
            set here); by default an image spec is made from ``train.x``.
        notes: what the source wants recorded (skipped files, file lists...).
        task: ``classification`` (int labels ``0..n-1``), ``regression`` (float ``(N, T)``) or
            ``multilabel`` (0/1 ``(N, L)``); see :mod:`aimodel.tasks`.
    """
    splits = [("training", train), ("test", test)] + ([("validation", val)] if val is not None else [])
    for name, split in splits:
        if len(split) == 0:
            raise DataError(f"the {name} split is empty")
    if task == "classification":
        _check_classes(splits, train, len(class_names))
    else:
        _check_outputs(splits, train, class_names, task)
    if val is None and validation_split > 0:
        train, val = holdout_split(train.x, train.y, validation_split, seed, "dataset.validation_split", task)
    if spec is None:
        spec = InputSpec(kind="image", shape=tuple(int(d) for d in train.x.shape[1:]), class_names=class_names)
        if spec.shape[-1] == 1 and not train.streamed:
            from aimodel.data.images import describe_ink

            for name, value in describe_ink(train.x).items():
                setattr(spec, name, value)
    spec.class_names = list(class_names)
    spec.task = None if task == "classification" else task  # None: as every run before task: was
    return DataBundle(train=train, val=val, test=test, spec=spec, notes=dict(notes or {}))


def _check_classes(splits, train: Split, n: int) -> None:
    for name, split in splits:
        bad = split.y[(split.y < 0) | (split.y >= n)]
        if bad.size:
            raise DataError(f"{name} labels must be 0..{n - 1}, found {int(bad[0])}")
    for name, split in splits[1:]:
        unseen = sorted(set(split.y.tolist()) - set(train.y.tolist()))
        if unseen:
            raise DataError(f"{name} labels {unseen} never occur in the training data")
    if len(set(train.y.tolist())) < 2:
        raise DataError("the training data has a single class; a classifier needs at least two")


def _check_outputs(splits, train: Split, names: list[str], task: str) -> None:
    import numpy as np

    for name, split in splits:
        y = split.y
        if y.ndim != 2 or y.shape[1] != len(names) or y.dtype != np.float32:
            raise DataError(f"{name} targets: expected float32 of shape (N, {len(names)}), got {y.dtype} {y.shape}")
        if not np.isfinite(y).all():
            raise DataError(f"{name} targets: contain NaN or infinite values")
    if task == "regression":
        flat = [n for n, s in zip(names, np.std(train.y, axis=0)) if s == 0]
        if flat:
            raise DataError(f"target {', '.join(flat)}: has one value in every training row; there is nothing "
                            "to learn")
    else:
        never = [n for n, c in zip(names, train.y.sum(axis=0)) if c == 0]
        if never:
            raise DataError(f"label(s) {', '.join(never)} never occur in the training split")


def to_images(x: "np.ndarray", what: str) -> "np.ndarray":
    """Bring an image array to uint8 (N, H, W, C) in 0..255."""
    import numpy as np

    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            f"{what}: expected images of shape (N, H, W) or (N, H, W, C) with C in 1/3/4, got {x.shape}"
        )
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{what}: expected numeric pixels, got dtype {x.dtype}")
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{what}: contains NaN or infinite pixels")
        hi = float(x.max()) if x.size else 0.0
        scale = 255.0 if hi <= 1.0 else (255.0 / hi if hi > 255 else 1.0)
        x = np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)
    return x


def to_labels(y: "np.ndarray", what: str) -> "np.ndarray":
    import numpy as np

    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what}: expected a 1-D array of integer class labels, got {y.dtype} {y.shape}")
    return y.astype(np.int64)


def fingerprint(split: Split) -> str:
    """A short hash of a split, so evaluate can prove it rebuilt the same test set.

    File-based splits hash their file list (paths relative to the dataset
    folder) and labels, not pixels: reading 20,000 images to hash them would
    cost as much as an epoch.
    """
    import numpy as np

    h = hashlib.sha256()
    x = split.x
    if split.streamed:
        h.update("\0".join(x.relative_paths()).encode("utf-8"))
        h.update(repr(x.sample_shape).encode())
    elif isinstance(x, dict):
        for key in sorted(x):
            h.update(key.encode("utf-8"))
            _hash_array(h, x[key])
    else:
        _hash_array(h, np.asarray(x))
    y = split.y
    # Class indices as int64 (as every run before task: regression); numbers and label sets as they are.
    h.update(y.astype("int64").tobytes() if y.dtype.kind in "iub" else np.ascontiguousarray(y, np.float32).tobytes())
    return h.hexdigest()[:16]


def _hash_array(h, arr) -> None:
    if arr.dtype == object or arr.dtype.kind == "U":
        h.update("\0".join(str(v) for v in arr.tolist()).encode("utf-8"))
    else:
        h.update(arr.tobytes())
