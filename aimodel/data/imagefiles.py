"""Image files on disk: checking them, and decoding them on demand while training.

Decoding is :mod:`aimodel.data.images`, the code ``aimodel predict`` reads files
with, so a photo is prepared for the model exactly as the training files were:
EXIF rotation, transparency onto white, 16-bit and palette images converted,
then resized to the model's size.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.data.images import check_image, decode_file
from aimodel.errors import DataError

log = logging.getLogger(__name__)


class ImageFiles:
    """``Split.x`` of a streaming folder source: image files decoded when a batch needs them.

    It quacks like a read-only uint8 array of shape ``(N, H, W, C)`` where the
    pipeline and the split logic need it: ``len``, ``shape``, ``dtype`` and
    indexing by integer positions (which gives another, smaller ``ImageFiles``).
    :meth:`load` decodes.

    Example:
        >>> files = ImageFiles("/data/pets", ["cat/1.png", "dog/2.jpg"], (64, 64, 3))
        >>> files.load([0, 1]).shape
        (2, 64, 64, 3)
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, root: str | Path, paths: Sequence[str], sample_shape: tuple[int, int, int],
                 cache: Optional[str | Path] = None):
        self.root = Path(root)
        self.paths = np.empty(len(paths), dtype=object)
        self.paths[:] = [str(p) for p in paths]
        self.sample_shape = tuple(int(d) for d in sample_shape)
        #: None (decode every epoch), "memory", or a folder for decoded-pixel files (``dataset.cache``).
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + self.sample_shape

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            return self.load([int(idx)])[0]
        return ImageFiles(self.root, self.paths[idx], self.sample_shape, self.cache)

    def relative_paths(self) -> list[str]:
        return [str(p) for p in self.paths]

    def absolute(self, i: int) -> Path:
        return self.root / str(self.paths[i])

    def load(self, idx=None) -> np.ndarray:
        """Decode the images at positions ``idx`` (all by default) to uint8 (k, H, W, C)."""
        idx = range(len(self)) if idx is None else np.asarray(idx).reshape(-1)
        height, width, channels = self.sample_shape
        out = np.empty((len(idx), height, width, channels), np.uint8)
        for k, i in enumerate(idx):
            out[k] = decode_file(self.absolute(int(i)), height, width, channels)
        return out

    def cache_to(self, directory: Path, tag: str) -> np.ndarray:
        """Decode every image once into ``directory/<tag>.npy`` and map it (read-only).

        The file is reused while it exists, so later epochs and later runs read
        decoded pixels from disk instead of decoding again; the pages are not
        held by this process beyond what the OS caches.
        """
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{tag}.npy"
        if target.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.dtype == np.uint8:
                return arr
            log.info("%s: shape %s does not match %s; rebuilding", target, arr.shape, self.shape)
        tmp = directory / f".{tag}.{os.getpid()}.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=self.shape)
        for start in range(0, len(self), 512):
            stop = min(start + 512, len(self))
            out[start:stop] = self.load(range(start, stop))
        out.flush()
        del out
        os.replace(tmp, target)
        return np.load(target, mmap_mode="r")


@dataclass
class ScanResult:
    """Which files are usable images, what they look like and which were skipped."""

    good: list[Path] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)  # (height, width) -> count
    modes: Counter = field(default_factory=Counter)  # Pillow mode -> count
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def scan_images(paths: Sequence[Path], on_bad_file: str, root: Path) -> ScanResult:
    """Open and fully decode every file once, in a few threads.

    A bad file raises :class:`DataError` naming it (``on_bad_file="error"``)
    or is left out and listed in ``skipped`` (``"skip"``).
    """
    result = ScanResult()
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        for path, (info, reason) in zip(paths, pool.map(check_image, paths)):
            if info is None:
                rel = _rel(path, root)
                if on_bad_file == "error":
                    raise DataError(
                        f"{path}: {reason}; delete or fix it, or set `dataset.on_bad_file: skip` "
                        "to leave bad files out (they are listed in the run directory)"
                    )
                result.skipped.append((rel, reason))
                continue
            height, width, mode = info
            result.good.append(path)
            result.sizes[(height, width)] += 1
            result.modes[mode] += 1
    return result


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
