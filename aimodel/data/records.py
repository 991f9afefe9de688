"""What a run directory records about its data, and rebuilding its test split from that record.

``data.json``: source, split sizes, class balance, skipped and ignored files.
``split.json`` (file sources): each split as {file relative to the dataset folder: class};
evaluate reads the test files listed here, so files
added to the folder later cannot change the test set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from aimodel.data.base import DataBundle, Split, fingerprint
from aimodel.errors import DataError
from aimodel.fileio import atomic_write_json

DATA_FILE = "data.json"
SPLIT_FILE = "split.json"


def summarize(bundle: DataBundle) -> dict:
    """Counts per split and class, input description, skipped files (also what `data inspect` prints)."""
    from aimodel.data.targets import describe_split

    names = bundle.spec.class_names
    splits = {}
    for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
        if split is None:
            continue
        splits[name] = {"samples": len(split), **describe_split(split.y, names, bundle.spec.task or "classification")}
    notes = bundle.notes
    return {
        "source": notes.get("source"),
        "kind": bundle.spec.kind,
        "input_shape": list(bundle.spec.shape),
        "input_dtype": _dtype(bundle),
        "classes": names,
        **({"task": bundle.spec.task} if bundle.spec.task else {}),
        "splits": splits,
        "test_from": notes.get("test_from"),
        "skipped_count": len(notes.get("skipped", [])),
        "skipped": notes.get("skipped", []),
        "ignored_count": len(notes.get("ignored", [])),
        "ignored": notes.get("ignored", [])[:100],
        **({"image_cache": notes["image_cache"]} if notes.get("image_cache") else {}),
        **({"dropped_rows": notes["dropped_rows"]} if notes.get("dropped_rows") else {}),
        # a series: each part's rows and time range, its step, and how many missing steps were filled
        **({k: notes[k] for k in ("parts", "time_step", "filled_steps")} if "parts" in notes else {}),
    }


def _dtype(bundle: DataBundle) -> str:
    x = bundle.train.x
    if bundle.spec.kind == "tabular":
        return ", ".join(f"{c['name']}: {'float32' if c['type'] == 'numeric' else 'string'}"
                         for c in bundle.spec.columns or [])
    if bundle.spec.kind == "text":
        return "string"
    return str(getattr(x, "dtype", "uint8"))


def write_records(bundle: DataBundle, run_dir: Path) -> None:
    """Write data.json (and split.json for file sources) into ``run_dir``."""
    atomic_write_json(run_dir / DATA_FILE, summarize(bundle))
    names = bundle.spec.class_names
    listing: dict = {}
    if bundle.train.streamed and bundle.notes.get("source") == "image_folder":
        # An image folder's file list is the record (files added later cannot change the test set); a CSV of
        # image paths is its own record, rebuilt by evaluate from the file and checked by the fingerprint.
        for name, split in (("train", bundle.train), ("val", bundle.val), ("test", bundle.test)):
            if split is not None:
                listing[name] = {p: names[int(c)] for p, c in zip(split.x.relative_paths(), split.y)}
    elif "files" in bundle.notes and isinstance(bundle.notes["files"], dict):
        test_files = bundle.notes["files"]["test"]
        listing["test"] = {p: names[int(c)] for p, c in zip(test_files, bundle.test.y)}
    if listing:
        record = {"root": bundle.notes.get("root"), "source": bundle.notes.get("source"),
                  "test_fingerprint": fingerprint(bundle.test), "splits": listing}
        atomic_write_json(run_dir / SPLIT_FILE, record)


def recorded_test_split(run_dir: Path, cfg, spec) -> Optional[Split]:
    """The test split listed in ``run_dir/split.json`` (None when the run has no such record).

    Files are looked up under ``dataset.path`` of the run's config; a missing
    file is an error naming it.
    """
    import numpy as np

    path = Path(run_dir) / SPLIT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        items = list(record["splits"]["test"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: unreadable split record ({exc})") from None
    root = Path(cfg.dataset.path)
    names = spec.class_names
    missing = [p for p, _ in items if not (root / p).is_file()]
    if missing:
        raise DataError(
            f"{root / missing[0]}: listed in the run's test split ({path}) but missing"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; evaluate needs the same test files"
        )
    unknown = sorted({c for _, c in items if c not in names})
    if unknown:
        raise DataError(f"{path}: classes {unknown} are not among the model's classes")
    y = np.array([names.index(c) for _, c in items], np.int64)
    rel = [p for p, _ in items]
    if record.get("source") == "image_folder":
        from aimodel.data.imagefiles import ImageFiles

        return Split(ImageFiles(root, rel, tuple(spec.shape)), y)
    from aimodel.data.folders import read_texts

    texts, _ = read_texts([root / p for p in rel], "error", root, *spec.text_encoding())
    x = np.empty(len(texts), dtype=object)
    x[:] = texts
    return Split(x, y)
