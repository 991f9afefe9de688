"""Reading image files: one decoder for training folders, evaluate --data and predict.

Every image aimodel reads goes through :func:`read_image`, so a file is decoded
the same way for training and for prediction: EXIF rotation applied,
transparency composited onto white paper, 16-bit and palette images converted.
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


def read_image(path: str | Path, channels: int) -> np.ndarray:
    """Decode any Pillow-readable file to float32 (H, W, channels), 0..255.

    EXIF rotation is applied; transparency is composited onto white paper.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        img = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(img, dtype=np.float32)
    return arr[..., None] if arr.ndim == 2 else arr


def resize_image(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float or uint8 pixels (H, W[, C]) to (height, width, C) float32, as training and predict both do."""
    from PIL import Image

    channels = arr.shape[-1] if arr.ndim == 3 else 1
    img = Image.fromarray(np.clip(arr.reshape(arr.shape[0], arr.shape[1], channels).squeeze(-1)
                                  if channels == 1 else arr, 0, 255).astype(np.uint8))
    # BOX averages when shrinking (like the 4×4 pooling that made sklearn's digits).
    img = img.resize((width, height), Image.Resampling.BOX if img.width > width else Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32).reshape(height, width, channels)


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
