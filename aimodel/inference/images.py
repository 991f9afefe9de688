"""Make a user's image file look like the training data (reading it is :mod:`aimodel.data.images`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from aimodel.data.images import read_image, resize_image
from aimodel.data.spec import InputSpec

Polarity = Literal["auto", "keep", "invert"]


def prepare_image(
    path: str | Path, spec: InputSpec, polarity: Polarity = "auto", crop: bool = True
) -> np.ndarray:
    """Convert one file exactly as the training data was: size, channels, ink polarity.

    For grayscale "ink" data (digits, MNIST: light strokes on a dark background),
    a photo of dark ink on light paper is inverted (``polarity="auto"``) and,
    with ``crop``, its background is removed and the strokes are cropped and
    padded to take the same share of the frame as in the training images; a
    file already at the model's input size is only inverted if needed, not cropped.
    """
    height, width, channels = spec.shape
    arr = read_image(path, channels)
    if arr.shape[:2] == (height, width):
        # Already the model's size: a sample in the training format (a dataset image saved as a
        # file), not a photo; cropping and re-inking it would only distort it.
        crop = False
    if channels == 1 and spec.background is not None:
        arr = _match_ink(arr[..., 0], spec, polarity, crop)[..., None]
    if arr.shape[:2] != (height, width):
        arr = resize_image(arr, height, width)
    return arr


def _match_ink(gray: np.ndarray, spec: InputSpec, polarity: Polarity, crop: bool) -> np.ndarray:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background_light = float(np.median(border)) >= 128
    wants_light = spec.background == "light"
    invert = polarity == "invert" or (polarity == "auto" and background_light != wants_light)
    if invert:
        gray = 255.0 - gray
    if wants_light or not crop:
        return gray
    # Photos have grey paper and uneven light: remove the background level, then
    # stretch so the strongest ink is full white, like the training strokes.
    level = float(np.percentile(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]), 90))
    gray = np.clip(gray - level, 0, None)
    peak = float(np.percentile(gray[gray > 0], 99)) if (gray > 0).any() else 0.0
    if peak <= 0:
        return gray
    gray = np.clip(gray * (255.0 / peak), 0, 255)
    if not spec.content_fraction:
        return gray
    rows, cols = np.nonzero(gray > 0.3 * 255)
    if not len(rows):
        return gray
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    extent = max(bottom - top, right - left)
    side = int(np.ceil(extent / spec.content_fraction))
    canvas = np.zeros((side, side), np.float32)
    cy, cx = (side - (bottom - top)) // 2, (side - (right - left)) // 2
    canvas[cy : cy + bottom - top, cx : cx + right - left] = gray[top:bottom, left:right]
    return _match_stroke_width(canvas, spec)


def _match_stroke_width(canvas: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Thicken thin pen strokes until, at the model's size, they cover as much as training ink.

    A fine pen photographed at 12 MP and shrunk to 8×8 or 28×28 leaves faint hairlines;
    the training digits have strokes a few pixels wide.
    """
    from PIL import Image, ImageFilter

    height, width = spec.shape[0], spec.shape[1]
    target = spec.ink_coverage
    best = resize_image(canvas[..., None], height, width)
    if not target:
        return best[..., 0]

    def coverage(small: np.ndarray) -> float:
        return float((small > 0.3 * max(float(small.max()), 1.0)).mean())

    best_gap = abs(coverage(best) - target)
    img = Image.fromarray(canvas.astype(np.uint8))
    step = max(1, canvas.shape[0] // (4 * max(height, width)))
    for size in range(1 + 2 * step, canvas.shape[0] // 3, 2 * step):
        small = resize_image(np.asarray(img.filter(ImageFilter.MaxFilter(size | 1)), np.float32)[..., None], height, width)
        gap = abs(coverage(small) - target)
        if gap >= best_gap:
            break
        best, best_gap = small, gap
    # Bring the strongest ink back to full white after averaging.
    peak = float(best.max())
    return np.clip(best[..., 0] * (255.0 / peak), 0, 255) if peak > 0 else best[..., 0]
