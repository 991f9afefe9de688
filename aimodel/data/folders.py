"""Folder sources: one sub-folder per class, of images (``image_folder``) or ``.txt`` files (``text_folder``).

Layouts (class names come from folder names, sorted)::

    path/<class>/<file>                       split by dataset.test_split and validation_split
    path/train/<class>/<file>                 with optional path/val/<class>/... (or validation/)
                                              and path/test/<class>/...; a missing one is carved
                                              from train
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import DirectoryPath, Field, field_validator

from aimodel.data.base import DATASETS, DatasetBase, absolute_path, Split, finish_bundle, stratified_indices
from aimodel.data.spec import InputSpec
from aimodel.data.files import TEXT_SUFFIXES
from aimodel.data.options import EncodingOptions, ImageFileOptions, ImageOptions, TextOptions
from aimodel.errors import DataError

SPLIT_DIRS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


class FolderBase(DatasetBase):
    path: DirectoryPath = Field(..., description="Folder of class folders (layouts: docs/data.md).")
    test_split: float = Field(
        0.2, gt=0.0, lt=1.0,
        description="Fraction of the files held out as the test split when there is no test/ folder.",
    )
    on_bad_file: Literal["error", "skip"] = Field(
        "error",
        description="A file that cannot be read: error (stop, naming it) or skip (leave it out; "
        "counted and listed in the run directory's data.json).",
    )

    _abs = field_validator("path")(absolute_path)


class ImageFolderDataset(ImageFileOptions, ImageOptions, FolderBase):
    """Images (.png .jpg .jpeg .bmp .gif .tif .webp .ppm ...) in class folders, streamed from disk while training."""

    name: Literal["image_folder"] = "image_folder"


class TextFolderDataset(EncodingOptions, TextOptions, FolderBase):
    """``.txt`` (or ``.text``) files in class folders, for text classification (encoding: dataset.encoding)."""

    name: Literal["text_folder"] = "text_folder"


# --- discovery ------------------------------------------------------------------------------


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _files(folder: Path, extensions: tuple[str, ...], ignored: list[str], root: Path) -> list[Path]:
    found = []
    for p in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        if p.suffix.lower() in extensions:
            found.append(p)
        else:
            ignored.append(str(p.relative_to(root)))
    return found


def discover(root: Path, extensions: tuple[str, ...]):
    """Find the class folders of each split.

    Returns:
        (class_names, {split: [(file, class_index), ...]}, ignored files).
    """
    ext_text = " ".join(extensions)
    split_roots: dict[str, Path] = {}
    for split, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                split_roots[split] = root / name
                break
    if "train" not in split_roots:
        if split_roots:
            found = ", ".join(f"{p.name}/" for p in split_roots.values())
            raise DataError(f"{root}: has {found} but no train/ folder; add {root / 'train'}/<class>/...")
        split_roots = {"train": root}
    ignored: list[str] = []
    if split_roots["train"] != root:
        extra = [d.name for d in _visible_dirs(root) if d not in split_roots.values()]
        if extra:
            raise DataError(
                f"{root / extra[0]}: unexpected folder beside train/; with a train/ folder the layout is "
                f"{root}/train|val|test/<class>/<files>"
            )
        ignored += [p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    train_dir = split_roots["train"]
    class_dirs = _visible_dirs(train_dir)
    if not class_dirs:
        raise DataError(
            f"{train_dir}: no class folders; expected {train_dir}/<class name>/<files> ({ext_text})"
        )
    if len(class_dirs) == 1:
        raise DataError(
            f"{train_dir}: a single class folder ('{class_dirs[0].name}'); a classifier needs at least two"
        )
    class_names = [d.name for d in class_dirs]
    if train_dir == root:
        ignored += [p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    splits: dict[str, list[tuple[Path, int]]] = {}
    for split, split_dir in split_roots.items():
        items = []
        for class_dir in _visible_dirs(split_dir):
            if class_dir.name not in class_names:
                raise DataError(
                    f"{class_dir}: class '{class_dir.name}' never occurs in training "
                    f"(no {train_dir / class_dir.name}); training classes: {', '.join(class_names)}"
                )
            files = _files(class_dir, extensions, ignored, root)
            if not files:
                raise DataError(
                    f"{class_dir}: empty class folder (no {ext_text} files); add files or remove the folder"
                )
            label = class_names.index(class_dir.name)
            items += [(f, label) for f in files]
        if not items:
            raise DataError(f"{split_dir}: no class folders with files ({ext_text})")
        splits[split] = items
    return class_names, splits, ignored


def _split_files(cfg: FolderBase, seed: int, splits: dict, class_names: list[str]):
    """Carve test (and the caller carves validation) from train where no folder gives them."""
    import numpy as np

    train = splits["train"]
    if "test" in splits:
        return train, splits.get("val"), splits["test"], "folders"
    y = np.array([label for _, label in train], np.int64)
    kept, held = stratified_indices(y, cfg.test_split, seed, "dataset.test_split")
    return [train[i] for i in sorted(kept)], splits.get("val"), [train[i] for i in sorted(held)], "test_split"


def _check_classes_after_skipping(items, class_names, root: Path, what: str):
    counts = Counter(item[1] for item in items)
    empty = [class_names[i] for i in range(len(class_names)) if counts[i] == 0]
    if what == "train" and empty:
        raise DataError(
            f"{root}: class folder(s) {', '.join(empty)} have no readable files left after skipping bad "
            "files; fix the files or remove the folder(s)"
        )


# --- image_folder ---------------------------------------------------------------------------


@DATASETS.register("image_folder")
def load_image_folder(cfg: ImageFolderDataset, seed: int):
    import numpy as np

    from aimodel.data.files import IMAGE_SUFFIXES
    from aimodel.data.imagefiles import ImageFiles, choose_cache, sample_shape, scan_images, tf_decodable

    root = cfg.path
    class_names, found, ignored = discover(root, IMAGE_SUFFIXES)
    skipped: list[tuple[str, str]] = []
    sizes: Counter = Counter()
    modes: Counter = Counter()
    checked: dict[str, list] = {}
    info: dict = {}
    for split, items in found.items():
        scan = scan_images([p for p, _ in items], cfg.on_bad_file, root)
        info.update(scan.info)
        good = set(scan.good)
        checked[split] = [(p, label) for p, label in items if p in good]
        _check_classes_after_skipping(checked[split], class_names, root, split)
        skipped += scan.skipped
        if split == "train":
            sizes, modes = scan.sizes, scan.modes
    shape = sample_shape(cfg.image_size, cfg.color_mode, sizes, modes)
    height, width, channels = shape
    train, val, test, how = _split_files(cfg, seed, checked, class_names)
    # Training decodes the training and validation files; evaluate decodes the test files in its own process.
    cache, cache_note = choose_cache(cfg.cache, (len(train) + len(val or ())) * height * width * channels,
                                     cfg.cache_memory_mb)

    def make(items):
        if items is None:
            return None
        rel = [str(p.relative_to(root)) for p, _ in items]
        files = ImageFiles(root, rel, shape, cache, [tf_decodable(info[p], shape) for p, _ in items])
        return Split(files, np.array([label for _, label in items], np.int64))

    notes = {
        "source": "image_folder", "root": str(root), "test_from": how,
        "skipped": [{"file": f, "reason": r} for f, r in skipped], "ignored": ignored,
        "sizes": {f"{h}x{w}": n for (h, w), n in sizes.most_common(10)}, "modes": dict(modes),
        "image_cache": cache_note,
    }
    return finish_bundle(make(train), make(test), class_names, cfg.validation_split, seed, val=make(val), notes=notes)


# --- text_folder ----------------------------------------------------------------------------


def read_texts(paths, on_bad_file: str, root: Path, encoding: str = "utf-8",
               errors: str = "strict") -> tuple[list, list[tuple[str, str]]]:
    """Read text files as predict reads them; returns ([text or None per path], skipped)."""
    from aimodel.data.files import UndecodableText, read_text_file

    texts, skipped = [], []
    for p in paths:
        try:
            texts.append(read_text_file(Path(p), encoding, errors))
        except DataError as exc:
            if on_bad_file == "error":
                hint = f"{UndecodableText.HINT}; or " if isinstance(exc, UndecodableText) else "fix it, or "
                raise DataError(f"{exc}; {hint}set `dataset.on_bad_file: skip` to leave bad files out") from None
            skipped.append((str(Path(p).relative_to(root)), str(exc).partition(": ")[2]))
            texts.append(None)
    return texts, skipped


@DATASETS.register("text_folder")
def load_text_folder(cfg: TextFolderDataset, seed: int):
    import numpy as np

    root = cfg.path
    class_names, found, ignored = discover(root, TEXT_SUFFIXES)
    skipped: list[tuple[str, str]] = []
    loaded: dict[str, list] = {}
    for split, items in found.items():
        texts, bad = read_texts([p for p, _ in items], cfg.on_bad_file, root, cfg.encoding, cfg.encoding_errors)
        skipped += bad
        loaded[split] = [(p, label, t) for (p, label), t in zip(items, texts) if t is not None]
        _check_classes_after_skipping(loaded[split], class_names, root, split)
    text_of = {p: t for items in loaded.values() for p, _, t in items}
    pairs = {s: [(p, label) for p, label, _ in items] for s, items in loaded.items()}
    train, val, test, how = _split_files(cfg, seed, pairs, class_names)

    def make(items):
        if items is None:
            return None
        x = np.empty(len(items), dtype=object)
        x[:] = [text_of[p] for p, _ in items]
        return Split(x, np.array([label for _, label in items], np.int64))

    spec = InputSpec(kind="text", shape=(), class_names=class_names, max_tokens=cfg.max_tokens,
                     sequence_length=cfg.sequence_length, encoding=cfg.encoding,
                     encoding_errors=cfg.encoding_errors)
    notes = {
        "source": "text_folder", "root": str(root), "test_from": how,
        "skipped": [{"file": f, "reason": r} for f, r in skipped], "ignored": ignored,
        # evaluate reads these files again (see aimodel.data.records)
        "files": {"test": [str(p.relative_to(root)) for p, _ in test]},
    }
    return finish_bundle(make(train), make(test), class_names, cfg.validation_split, seed,
                         val=make(val), spec=spec, notes=notes)
