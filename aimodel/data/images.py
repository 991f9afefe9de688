"""Reading image files: one decoder for training folders, evaluate --data and predict.

Every image aimodel reads goes through :func:`read_image`, so a file is decoded
the same way for training and for prediction: EXIF rotation applied,
transparency composited onto white paper, 16-bit and palette images converted.

:func:`describe_ink` measures how grayscale training images look (background, ink extent, pen,
centre), the look :mod:`aimodel.inference.images` brings a user's photo to.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from aimodel.errors import DataError

#: Pillow modes with one channel of information.
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}

#: ``ImageInfo.plain`` values: how TensorFlow can decode a file to exactly the pixels of :func:`read_image`.
NOT_PLAIN, PLAIN_PNG, PLAIN_JPEG = 0, 1, 2


class ImageInfo(NamedTuple):
    """What a scan learns about a readable image file."""

    height: int
    width: int
    mode: str
    #: PLAIN_PNG / PLAIN_JPEG when the file needs no conversion that only Pillow does (no EXIF
    #: rotation, transparency, palette, 16-bit or CMYK pixels), else NOT_PLAIN; see :func:`plain_kind`.
    plain: int = NOT_PLAIN


def read_image(path: str | Path, channels: int, min_side: Optional[int] = None,
               max_side: Optional[int] = None, dtype=np.float32) -> np.ndarray:
    """Decode any Pillow-readable file to float32 (H, W, channels), 0..255 (``dtype=np.uint8``: the 8-bit pixels).

    EXIF rotation is applied; transparency is composited onto white paper.

    Args:
        min_side: decode a larger image reduced, to no less than this many pixels on its shorter
            side: JPEGs at 1/2, 1/4 or 1/8 scale while decoding (``Image.draft``), other formats
            by an integer box reduction straight after, before any float copy is made. A 6000×6000
            photo for a digit model then costs a fraction of its full-size decode. None: full size.
        max_side: shrink a larger image to this many pixels on its longer side (aspect kept): JPEGs
            decoded at the smallest DCT scale that keeps the longer side ≥ ``max_side``, then an
            area-averaging (BOX) resize of the 8-bit pixels. For an analysis that works at a fixed
            resolution (photo preparation): a 12-megapixel photo costs about what an 800-pixel one does.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            target = _fitted_size(img.size, max_side)
            if img.format == "JPEG" and img.mode in ("L", "RGB"):
                if target is not None:
                    img.draft(img.mode, target)  # DCT scaling, keeps both sides ≥ the target's
                elif min_side is not None:
                    img.draft(img.mode, (min_side, min_side))  # DCT scaling, keeps both sides ≥ min_side
            img.load()
            img = _reduced(img, min_side) if target is None else _fitted(img, target)
            ImageOps.exif_transpose(img, in_place=True)  # no copy for the usual photo without a rotation
            arr = _pixels(img, channels, dtype)  # before the file's image is closed (that frees its pixels)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _pixels(img, channels: int, dtype) -> np.ndarray:
    """A decoded image's pixels as (H, W) or (H, W, 3) ``dtype``: 16-bit levels scaled to 8 bits,
    transparency composited onto white paper."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        img = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    mode = "L" if channels == 1 else "RGB"
    return np.asarray(img if img.mode == mode else img.convert(mode), dtype=dtype)


def _reduced(img, min_side: Optional[int]):
    """``img`` box-reduced by the largest integer factor that keeps its shorter side ≥ ``min_side``."""
    if min_side is None:
        return img
    factor = min(img.size) // max(1, min_side)
    if factor < 2 or img.mode not in ("L", "LA", "P", "RGB", "RGBA", "I", "F", "CMYK"):
        return img
    if img.mode == "P":  # a reduction averages colours: a palette index cannot be averaged
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    return img.reduce(factor)


def _fitted_size(size: tuple[int, int], max_side: Optional[int]) -> Optional[tuple[int, int]]:
    """(width, height) of ``size`` scaled so its longer side is ``max_side``; None when it is no larger."""
    if max_side is None or max(size) <= max_side:
        return None
    f = max_side / max(size)
    return max(1, round(size[0] * f)), max(1, round(size[1] * f))


def _fitted(img, target: tuple[int, int]):
    """``img`` (decoded, possibly DCT-reduced) area-averaged to ``target`` (width, height), 8-bit modes kept."""
    if img.size == target:
        return img
    if img.mode == "P":  # averaging needs colours, not palette indices
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode.startswith("I;16"):
        img = img.convert("I")  # read_image scales 16-bit levels to 8 bits afterwards
    elif img.mode not in ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    from PIL import Image

    return img.resize(target, Image.Resampling.BOX)


def resize_image(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float or uint8 pixels (H, W[, C]) to (height, width, C) float32, as training and predict both do."""
    from PIL import Image

    channels = arr.shape[-1] if arr.ndim == 3 else 1
    img = Image.fromarray(np.clip(arr.reshape(arr.shape[0], arr.shape[1], channels).squeeze(-1)
                                  if channels == 1 else arr, 0, 255).astype(np.uint8))
    # BOX averages when shrinking (like the 4×4 pooling that made sklearn's digits).
    img = img.resize((width, height), Image.Resampling.BOX if img.width > width else Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32).reshape(height, width, channels)


def resize_float(arr: np.ndarray, height: int, width: int, method: Optional[int] = None) -> np.ndarray:
    """A float (H, W) array resized by Pillow in its 32-bit float mode: area averaging (BOX) when it
    shrinks, bicubic when it grows, unless ``method`` says. The pixels go in and out as raw buffers
    (``Image.fromarray`` and ``np.asarray`` on an image cost more than the resize at 100 pixels)."""
    from PIL import Image

    arr = np.ascontiguousarray(arr, np.float32)
    img = Image.frombuffer("F", (arr.shape[1], arr.shape[0]), arr, "raw", "F", 0, 1)
    if method is None:
        method = Image.Resampling.BOX if width < arr.shape[1] else Image.Resampling.BICUBIC
    return np.frombuffer(img.resize((width, height), method).tobytes(), np.float32).reshape(height, width)


def decode_file(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """One image file as uint8 (height, width, channels), prepared like predict prepares photos."""
    arr = read_image(path, channels)
    if arr.shape[:2] != (height, width):
        arr = resize_image(arr, height, width)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8).reshape(height, width, channels)


def check_image(path: Path) -> tuple[Optional[ImageInfo], Optional[str]]:
    """(ImageInfo, None) for a readable image, or (None, reason)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height, mode = img.width, img.height, img.mode
            if img.format == "JPEG":
                img.draft(img.mode, (64, 64))  # decodes at reduced scale: fast, still reads every byte
            img.load()
            plain = plain_kind(img, path)
    except UnidentifiedImageError:
        return None, "not an image Pillow can read"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"corrupt or truncated ({msg})"
    if width < 1 or height < 1:
        return None, "has no pixels"
    return ImageInfo(height, width, mode, plain), None


def plain_kind(img, path: Path) -> int:
    """Whether TensorFlow's decoder gives exactly the pixels :func:`read_image` gives for this file.

    True for 8-bit grayscale or RGB PNGs without transparency and for grayscale
    or YCbCr JPEGs (decoded with the accurate integer DCT, as Pillow does), in
    both cases only without an EXIF rotation and with a single frame. Everything
    else (palette, alpha, 16-bit, CMYK, rotated, animated) goes through Pillow.
    """
    if img.mode not in ("L", "RGB") or getattr(img, "n_frames", 1) != 1 or "transparency" in img.info:
        return NOT_PLAIN
    try:
        if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation: read_image rotates
            return NOT_PLAIN
    except Exception:  # unreadable EXIF: leave the file to Pillow
        return NOT_PLAIN
    if img.format == "JPEG":
        return PLAIN_JPEG
    if img.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        # IHDR: bit depth at byte 24, colour type at 25 (0 gray, 2 RGB); Pillow shows 16-bit RGB as "RGB".
        if len(head) == 26 and head[12:16] == b"IHDR" and head[24] == 8 and head[25] in (0, 2):
            return PLAIN_PNG
    return NOT_PLAIN


def convert_images(x: np.ndarray, image_size: Optional[Sequence[int]], color_mode: str) -> np.ndarray:
    """Resize and change channels of an in-memory uint8 (N, H, W, C) array, as predict would."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    want_c = {"grayscale": 1, "rgb": 3}.get(color_mode, 1 if channels == 1 else 3 if channels in (3, 4) else channels)
    want_h, want_w = (int(image_size[0]), int(image_size[1])) if image_size else (height, width)
    if (want_h, want_w, want_c) == (height, width, channels):
        return x
    from PIL import Image

    out = np.empty((len(x), want_h, want_w, want_c), np.uint8)
    for i, img in enumerate(x):
        if channels != want_c:
            pil = Image.fromarray(img[..., 0] if channels == 1 else img[..., :3])
            img = np.asarray(pil.convert("L" if want_c == 1 else "RGB")).reshape(height, width, want_c)
        if (height, width) != (want_h, want_w):
            img = resize_image(img.astype(np.float32), want_h, want_w)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


#: The :class:`~aimodel.data.spec.InputSpec` fields :func:`describe_ink` measures.
INK_FIELDS = ("background", "content_fraction", "ink_coverage", "stroke_width", "ink_centre")


def describe_ink(x: np.ndarray, sample: int = 500) -> dict:
    """Background polarity, typical ink extent, coverage, stroke width and centre of grayscale images.

    Predict uses these to bring a user's photo to the look of the training data
    (:mod:`aimodel.inference.images`). Returns ``{field: value}`` for each of
    :data:`INK_FIELDS` (see :class:`~aimodel.data.spec.InputSpec`); None where there is no ink to measure.
    """
    from scipy import ndimage

    rng = np.random.default_rng(0)
    idx = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    imgs = x[idx, ..., 0].astype(np.float32)
    border = np.concatenate(
        [imgs[:, 0, :], imgs[:, -1, :], imgs[:, :, 0], imgs[:, :, -1]], axis=1
    )
    background = "dark" if float(np.median(border)) < 128 else "light"
    if background == "light":
        imgs = 255.0 - imgs
    fractions, coverage, strokes, centres = [], [], [], []
    for img in imgs:
        ink = img > 0.3 * img.max() if img.max() > 0 else np.zeros_like(img, bool)
        rows, cols = np.nonzero(ink)
        if len(rows):
            extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
            fractions.append(extent / max(img.shape))
            coverage.append(float(ink.mean()))
            centres.append(ndimage.center_of_mass(img))
            box = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1] / img.max()
            stroke = stroke_fraction(box, 4 * max(box.shape))
            if stroke is not None:
                strokes.append(stroke)
    out = dict.fromkeys(INK_FIELDS)
    out["background"] = background
    if fractions:
        out.update(content_fraction=round(float(np.median(fractions)), 3),
                   ink_coverage=round(float(np.median(coverage)), 3),
                   stroke_width=round(float(np.median(strokes)), 3) if strokes else None,
                   ink_centre=[round(float(v), 2) for v in np.median(centres, axis=0)])
    return out


def stroke_fraction(ink: np.ndarray, side: int) -> Optional[float]:
    """Mean stroke width of ``ink`` (0..1, cropped to its strokes) as a share of its box's larger side.

    Measured with the box's larger side at ``side`` pixels (training images and photos are
    compared at the same scale): strokes are where the ink exceeds half, and a band of width
    w has a mean distance to its edge of about w/4. None when there is no ink.
    """
    from PIL import Image
    from scipy import ndimage

    h, w = ink.shape
    if not h or not w:
        return None
    scale = side / max(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    if size != (w, h):
        ink = resize_float(ink, size[1], size[0], Image.Resampling.BICUBIC)
    strokes = np.zeros((ink.shape[0] + 2, ink.shape[1] + 2), bool)  # beyond the box is background:
    np.greater(ink, 0.5, out=strokes[1:-1, 1:-1])                     # a stroke may touch its edge
    if not strokes.any():
        return None
    return float(4.0 * ndimage.distance_transform_edt(strokes)[strokes].mean() / side)
