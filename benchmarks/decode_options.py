"""Ways to decode an image folder once, timed against each other (alternating, medians).

    python benchmarks/decode_options.py benchmarks/out/mnist_folder/train --size 28 --channels 1
    python benchmarks/decode_options.py --photos 400 --size 64     # 640×480 JPEG photos, resized

Options: Pillow one file after another (``decode_file``, what ``predict`` uses), Pillow in a thread
pool, Pillow in a process pool (started fresh each time, as a training run would), and aimodel's
tf.data decoder (TensorFlow's decoders for plain files, Pillow through ``numpy_function`` for the
rest, one file per element of a parallel map). Every option must give the same pixels.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np


def _pillow(args) -> np.ndarray:
    from aimodel.data.images import decode_file

    paths, shape = args
    return np.stack([decode_file(p, *shape) for p in paths])


def _chunks(paths, shape, n=64):
    return [(paths[i:i + n], shape) for i in range(0, len(paths), n)]


def pillow(paths, shape):
    return _pillow((paths, shape))


def pillow_threads(paths, shape):
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return np.concatenate(list(pool.map(_pillow, _chunks(paths, shape))))


def pillow_processes(paths, shape):
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("forkserver")) as pool:
        return np.concatenate(list(pool.map(_pillow, _chunks(paths, shape))))


def image_files(paths, shape):
    """The ImageFiles a folder source makes (its scan, done when the data loads, is not timed)."""
    from aimodel.data.imagefiles import ImageFiles, scan_images, tf_decodable

    root = Path(os.path.commonpath(paths))
    scan = scan_images([Path(p) for p in paths], "error", root)
    return ImageFiles(root, [os.path.relpath(p, root) for p in paths], shape, None,
                      [tf_decodable(scan.info[Path(p)], shape) for p in paths])


def tf_data(files, shape):
    from aimodel.data.decoding import decoded_batches

    return np.concatenate(list(decoded_batches(files)))


def make_photos(folder: Path, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(n):
        base = np.stack([(xx + 7 * i) % 256, (yy + 3 * i) % 256, (xx + yy) % 256], -1)
        noisy = np.clip(base + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{i:04d}.jpg", quality=90)
    return sorted(str(p) for p in folder.glob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="a folder of images (searched recursively)")
    parser.add_argument("--photos", type=int, default=0, help="instead: make this many 640×480 JPEG photos")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.photos:
        paths = make_photos(Path(tempfile.mkdtemp(prefix="aimodel-photos-")), args.photos)
    else:
        paths = sorted(str(p) for p in args.folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    shape = (args.size, args.size, args.channels)
    options = {"pillow": pillow, "pillow_threads": pillow_threads, "pillow_processes": pillow_processes,
               "tf_data": tf_data}
    times: dict[str, list] = {k: [] for k in options}
    files = image_files(paths, shape)
    print(f"TensorFlow decodes {int((files.plain > 0).sum()):,} of the {len(paths):,} files, Pillow the rest")
    reference = None
    for rep in range(args.reps):
        for name in list(options) if rep % 2 == 0 else list(options)[::-1]:
            start = time.perf_counter()
            pixels = options[name](files if name == "tf_data" else paths, shape)
            times[name].append(time.perf_counter() - start)
            reference = pixels if reference is None else reference
            assert np.array_equal(pixels, reference), f"{name} decoded different pixels"
    print(f"{len(paths):,} files → {shape}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    for name, ts in times.items():
        print(f"{name:18s} median {statistics.median(ts):6.2f} s  ({len(paths) / statistics.median(ts):8,.0f} files/s)")


if __name__ == "__main__":
    main()
