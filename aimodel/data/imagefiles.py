"""Image files on disk: checking them, choosing a decoded-pixel cache, and decoding them while training.

Decoding is :mod:`aimodel.data.images`, the code ``aimodel predict`` reads files
with, so a photo is prepared for the model exactly as the training files were:
EXIF rotation, transparency onto white, 16-bit and palette images converted,
then resized to the model's size. Files that need none of that (8-bit PNGs and
JPEGs at the model's size, see :func:`~aimodel.data.images.plain_kind`) are
decoded by TensorFlow inside the input pipeline instead, in parallel and
without Python's GIL; they give the same pixels (a test holds both paths to it).

``dataset.cache`` decides whether decoded pixels are kept (see :func:`choose_cache`):
``auto`` keeps them in memory when they fit the memory budget, else in a
decoded-pixel file on disk when the disk has room, else decodes every epoch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aimodel.data.images import ImageInfo, check_image, decode_file
from aimodel.errors import DataError

log = logging.getLogger(__name__)

#: Share of the memory available at start that ``cache: auto`` may fill with decoded pixels.
MEMORY_SHARE = 0.25
#: Share of the free disk space that ``cache: auto`` may fill with a decoded-pixel file.
DISK_SHARE = 0.25


class ImageFiles:
    """``Split.x`` of a folder source: image files, decoded when needed.

    It quacks like a read-only uint8 array of shape ``(N, H, W, C)`` where the
    pipeline and the split logic need it: ``len``, ``shape``, ``dtype`` and
    indexing by integer positions (which gives another, smaller ``ImageFiles``).
    :meth:`load` decodes; :meth:`fill` decodes everything once into the cache.

    Args:
        root: the dataset folder; ``paths`` are relative to it.
        sample_shape: (H, W, C) every image is brought to.
        cache: None (decode every epoch), "memory", or a folder for decoded-pixel files.
        plain: per file, the :data:`~aimodel.data.images.PLAIN_PNG`-style code when
            TensorFlow may decode it (right size and channels, no Pillow-only
            conversion), else 0; None: every file goes through Pillow.

    Example:
        >>> files = ImageFiles("/data/pets", ["cat/1.png", "dog/2.jpg"], (64, 64, 3))
        >>> files.load([0, 1]).shape
        (2, 64, 64, 3)
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, root: str | Path, paths: Sequence[str], sample_shape: tuple[int, int, int],
                 cache: Optional[str | Path] = None, plain: Optional[Sequence[int]] = None):
        self.root = Path(root)
        self.paths = np.empty(len(paths), dtype=object)
        self.paths[:] = [str(p) for p in paths]
        self.sample_shape = tuple(int(d) for d in sample_shape)
        self.cache = cache
        self.plain = np.zeros(len(paths), np.int8) if plain is None else np.asarray(plain, np.int8)
        #: decoded pixels once :meth:`fill` ran (an array in memory, or a read-only memory map)
        self.pixels: Optional[np.ndarray] = None
        self._filling = threading.Lock()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + self.sample_shape

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            return self.load([int(idx)])[0]
        return ImageFiles(self.root, self.paths[idx], self.sample_shape, self.cache, self.plain[idx])

    def relative_paths(self) -> list[str]:
        return [str(p) for p in self.paths]

    def absolute(self, i: int) -> Path:
        return self.root / str(self.paths[i])

    def load(self, idx=None) -> np.ndarray:
        """The images at positions ``idx`` (all by default) as uint8 (k, H, W, C).

        From the cache once filled; otherwise decoded here with Pillow, the reference decoder.
        """
        idx = np.arange(len(self)) if idx is None else np.asarray(idx, np.int64).reshape(-1)
        if self.pixels is not None:
            return np.asarray(self.pixels[idx])
        height, width, channels = self.sample_shape
        out = np.empty((len(idx), height, width, channels), np.uint8)
        for k, i in enumerate(idx):
            out[k] = decode_file(self.absolute(int(i)), height, width, channels)
        return out

    def fill(self) -> float:
        """Decode every image once into the cache (memory or a file); returns the seconds it took.

        A decoded-pixel file is reused while it exists (its name is a hash of the
        file list, sizes, modification times and the sample shape), so later runs
        read pixels from disk instead of decoding again.
        """
        with self._filling:  # the runner may fill in a thread while the model is built (training.runner)
            if self.pixels is not None or not self.cache:
                return 0.0
            start = time.perf_counter()
            if self.cache == "memory":
                out = np.empty(self.shape, np.uint8)
                self._decode_into(out)
                self.pixels = out
            else:
                self.pixels = self._file_cache(Path(self.cache))
            return time.perf_counter() - start

    def _decode_into(self, out: np.ndarray) -> None:
        from aimodel.data.decoding import decoded_batches

        start = 0
        for batch in decoded_batches(self):
            out[start : start + len(batch)] = batch
            start += len(batch)

    def _file_cache(self, directory: Path) -> np.ndarray:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"images-{self.content_key()}.npy"
        if target.is_file():
            arr = np.load(target, mmap_mode="r")
            if arr.shape == self.shape and arr.dtype == np.uint8:
                return arr
            log.info("%s: shape %s does not match %s; rebuilding", target, arr.shape, self.shape)
        tmp = directory / f".{target.stem}.{os.getpid()}.npy"
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=self.shape)
            self._decode_into(out)
            out.flush()
            del out
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return np.load(target, mmap_mode="r")

    def content_key(self) -> str:
        """A hash of the files (relative path, size, modification time) and the sample shape."""
        h = hashlib.sha256(repr(self.sample_shape).encode())
        for rel in self.paths:
            st = (self.root / str(rel)).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8"))
        return h.hexdigest()[:16]


# --- the cache decision ---------------------------------------------------------------------------


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation now (Linux MemAvailable), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_cache_dir() -> Path:
    """Where ``cache: auto`` puts decoded-pixel files: ``$AIMODEL_CACHE_DIR`` or ``~/.cache/aimodel/images``."""
    env = os.environ.get("AIMODEL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aimodel" / "images"


def _mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


def choose_cache(setting, nbytes: int, memory_budget_mb: Optional[float] = None):
    """Resolve ``dataset.cache`` for images that decode to ``nbytes``.

    Returns:
        (cache, note): cache is None (stream), "memory" or a folder; note is a
        dict for ``data.json`` whose ``decision`` is a sentence for people.
    """
    note = {"setting": str(setting) if setting is not None else "none", "decoded_mb": round(nbytes / 2**20, 1)}
    if setting in (None, "none"):
        return None, dict(note, mode="stream", decision="decoded every epoch (dataset.cache: none)")
    if setting == "memory":
        return "memory", dict(note, mode="memory", decision=f"decoded once into memory ({_mb(nbytes)}, "
                                                            "dataset.cache: memory)")
    if setting != "auto":
        return Path(setting), dict(note, mode="disk", folder=str(setting),
                                   decision=f"decoded once into {setting} ({_mb(nbytes)})")
    avail = available_memory()
    if memory_budget_mb is not None:
        budget, source = memory_budget_mb * 2**20, "dataset.cache_memory_mb"
    elif avail is not None:
        budget, source = MEMORY_SHARE * avail, f"{MEMORY_SHARE:.0%} of the {_mb(avail)} available"
    else:
        budget, source = 0.0, "available memory unknown"
    note.update(memory_budget_mb=round(budget / 2**20, 1))
    if nbytes <= budget:
        return "memory", dict(note, mode="memory", decision=f"decoded once into memory: {_mb(nbytes)} fits the "
                                                            f"budget of {_mb(budget)} ({source})")
    folder = default_cache_dir()
    free = _free_disk(folder)
    if free is not None and nbytes <= DISK_SHARE * free:
        return folder, dict(note, mode="disk", folder=str(folder),
                            decision=f"decoded once into {folder}: {_mb(nbytes)} is over the memory budget "
                                     f"of {_mb(budget)} ({source}) but fits {DISK_SHARE:.0%} of the "
                                     f"{_mb(free)} free on disk")
    return None, dict(note, mode="stream", decision=f"decoded every epoch: {_mb(nbytes)} is over the memory "
                                                    f"budget of {_mb(budget)} ({source}) and over "
                                                    f"{DISK_SHARE:.0%} of the free disk space")


def _free_disk(folder: Path) -> Optional[int]:
    import shutil

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


# --- scanning -------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    """Which files are usable images, what they look like and which were skipped."""

    good: list[Path] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # Path -> ImageInfo
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
            result.good.append(path)
            result.info[path] = info
            result.sizes[(info.height, info.width)] += 1
            result.modes[info.mode] += 1
    return result


def sample_shape(image_size, color_mode: str, sizes: Counter, modes: Counter) -> tuple[int, int, int]:
    """(H, W, C) the model takes: ``dataset.image_size`` or the most common size among the training
    files; ``dataset.color_mode``, or (auto) 1 channel only when every training file is grayscale."""
    from aimodel.data.images import GRAY_MODES

    height, width = image_size if image_size is not None else sizes.most_common(1)[0][0]
    if color_mode == "auto":
        channels = 1 if set(modes) <= GRAY_MODES else 3
    else:
        channels = 1 if color_mode == "grayscale" else 3
    return int(height), int(width), channels


def tf_decodable(info: ImageInfo, sample_shape: tuple[int, int, int]) -> int:
    """``info.plain`` when TensorFlow's decoder gives this file's pixels at ``sample_shape`` exactly, else 0.

    The file must already have the model's size (no resizing) and channels that
    need no mixing: grayscale to 1 or 3 channels (3 repeats the gray), RGB to 3.
    """
    height, width, channels = sample_shape
    if (info.height, info.width) != (height, width):
        return 0
    if info.mode == "L" or (info.mode == "RGB" and channels == 3):
        return info.plain
    return 0


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
