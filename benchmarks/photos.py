"""Render MNIST-style digits as phone photos of handwriting, under named conditions.

Independent of aimodel (NumPy, Pillow and SciPy only), so the photo benchmark and the
tests use the same rendering. A digit is given as an MNIST-style array (light strokes on
black, any size, usually 28×28); :func:`render` returns an RGB photo of it written in
dark ink on paper, as a phone would save it (JPEG), under one of :data:`CONDITIONS`.

Every photo starts from the same "ordinary" photo (:data:`BASE`: a digit across about
40% of a 480×640 frame, black ink, even light with a slight vignette, mild noise and blur,
JPEG quality 90); each condition changes what its name says. ``render(..., phone=True)`` takes the
same photo at a phone camera's 12 megapixels (the scene enlarged to 3000×4000, noise at that size):

========================  =====================================================================
fill                      the digit fills most of a square frame (its box spans 80–90%)
small_offcentre           a small digit (about 12% of the height) away from the centre of a 600×800 frame
gradient                  uneven light: brightness falls from 100% to 30–40% across the frame
shadow                    a hard shadow (45–55% darker) over part of the digit, along a straight edge
blue_ink                  blue ballpoint ink
pencil                    grey, grainy pencil strokes (about half the contrast of ink)
thin_pen                  a fine pen: the digit's centre line drawn 1 MNIST pixel wide (MNIST's strokes: about 2.5)
thick_pen                 a marker: the centre line drawn 5 MNIST pixels wide
rotation                  the digit rotated by 5–15° either way
jpeg50                    saved at JPEG quality 50
noise_blur                camera noise (σ ≈ 12 of 255 per channel) and a slight blur (radius ≈ 1.6 px)
========================  =====================================================================
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Style:
    """How one photo is taken. Sizes are fractions of the frame unless they say px."""

    frame: tuple[int, int] = (480, 640)  # width, height in px
    height: float = 0.40  # digit box height / frame height
    placement: str = "centre"  # centre (±5% jitter) or offcentre
    ink: tuple[int, int, int] = (28, 28, 36)
    opacity: float = 0.92
    grain: float = 0.0  # pencil graphite texture: 0 none .. 1 strong
    pen: str = "normal"  # thin, normal, thick
    rotation: tuple[float, float] = (0.0, 0.0)  # |degrees| range, random sign
    light: str = "even"  # even, gradient, shadow
    noise: float = 3.0  # σ of camera noise, 0..255
    blur: float = 0.6  # Gaussian blur radius, px
    jpeg: int = 90


BASE = Style()
CONDITIONS: dict[str, Style] = {
    "fill": replace(BASE, frame=(360, 360), height=0.85),
    "small_offcentre": replace(BASE, frame=(600, 800), height=0.12, placement="offcentre"),
    "gradient": replace(BASE, light="gradient"),
    "shadow": replace(BASE, light="shadow"),
    "blue_ink": replace(BASE, ink=(28, 52, 165), opacity=0.9),
    "pencil": replace(BASE, ink=(105, 105, 112), opacity=0.8, grain=0.7),
    "thin_pen": replace(BASE, pen="thin"),
    "thick_pen": replace(BASE, pen="thick"),
    "rotation": replace(BASE, rotation=(5.0, 15.0)),
    "jpeg50": replace(BASE, jpeg=50),
    "noise_blur": replace(BASE, noise=12.0, blur=1.6),
}
PAPER = (236, 233, 225)
#: The longer side of a 12-megapixel phone photo (3000×4000), for ``render(..., phone=True)``.
PHONE_SIDE = 4000
#: Stroke width of the thin and thick pens, in MNIST pixels. MNIST's own strokes are about 2.5 px wide
#: (median over 300 training digits of 4 × the mean distance of a stroke pixel to the stroke's edge).
PEN_WIDTH = {"thin": 1.0, "thick": 5.0}


def render(digit: np.ndarray, condition: str = "base", seed: int = 0, style: Optional[Style] = None,
           phone: bool = False) -> bytes:
    """One photo of ``digit`` (light-on-dark array, uint8) as JPEG bytes.

    Args:
        condition: a key of :data:`CONDITIONS`, or "base" for the ordinary photo.
        seed: drives every random choice (placement, light direction, noise...).
        style: instead of ``condition``, a :class:`Style` of one's own.
        phone: the same photo at a phone camera's 12 megapixels (3000×4000 for the 480×640 frame,
            3000×3000 for a square one): the scene enlarged, camera noise added at full size.
    """
    from PIL import Image

    st = style or (BASE if condition == "base" else CONDITIONS[condition])
    rng = np.random.default_rng(seed)
    width, height = st.frame
    alpha = _ink_shape(np.asarray(digit, np.float32), st, rng, int(round(st.height * height)))
    canvas, box = _place(alpha, st, rng, width, height)
    photo = _compose(canvas, st, rng)
    photo *= _light(st, rng, width, height, box)[..., None]
    img = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    if st.blur:
        from PIL import ImageFilter

        img = img.filter(ImageFilter.GaussianBlur(st.blur))
    if phone:
        # The same scene taken with a 12-megapixel camera: the lens's picture enlarged to the phone's
        # frame (its longer side PHONE_SIDE pixels), with the sensor's noise per pixel at that size.
        f = PHONE_SIDE / max(width, height)
        width, height = round(width * f), round(height * f)
        img = img.resize((width, height), Image.Resampling.BICUBIC)
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(st.noise)
    else:
        noise = rng.normal(0.0, st.noise, (height, width, 3))
    arr = np.asarray(img, np.float32) + noise
    out = io.BytesIO()
    Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8)).save(out, "JPEG", quality=st.jpeg)
    return out.getvalue()


def _ink_shape(digit: np.ndarray, st: Style, rng, box_px: int) -> np.ndarray:
    """The pen's coverage (0..1) at photo resolution, cropped to the strokes."""
    from PIL import Image
    from scipy import ndimage

    d = digit / max(float(digit.max()), 1.0)
    rows, cols = np.nonzero(d > 0.1)
    d = d[rows.min():rows.max() + 1, cols.min():cols.max() + 1] if len(rows) else d
    scale = max(box_px, 8) / d.shape[0]
    size = (max(1, int(round(d.shape[1] * scale))), max(1, int(round(d.shape[0] * scale))))
    pad = int(round(0.25 * box_px)) + 4
    big = np.pad(np.asarray(Image.fromarray(d).resize(size, Image.Resampling.BICUBIC), np.float32), pad)
    px = scale  # photo pixels per MNIST pixel
    # The digit's own ink, smoothed to a pen outline with its holes and loops kept.
    field = ndimage.gaussian_filter(big, sigma=max(0.35 * px, 0.5))
    field /= max(float(field.max()), 1e-6)
    alpha = np.clip((field - 0.5) / 0.08 + 0.5, 0.0, 1.0)
    if st.pen in PEN_WIDTH:
        # Another pen, same hand: the digit's centre line redrawn at the pen's width. The line is
        # that of the strokes' cores (3/4 of full ink), where the loops a heavy pen nearly closed are
        # open, and of the ridges of fainter strokes, which have no such core.
        ridge = (field > 0.4) & (field >= 0.9 * ndimage.maximum_filter(field, size=max(3, int(2 * px) | 1)))
        away = ndimage.distance_transform_edt(~skeleton((field > 0.75) | ridge))
        alpha = np.clip((PEN_WIDTH[st.pen] * px / 2.0 - away) / 1.5 + 0.5, 0.0, 1.0)
    if st.rotation[1] > 0:
        angle = rng.uniform(*st.rotation) * rng.choice([-1.0, 1.0])
        img = Image.fromarray((alpha * 255).astype(np.uint8)).rotate(angle, Image.Resampling.BICUBIC, expand=True)
        alpha = np.asarray(img, np.float32) / 255.0
    rows, cols = np.nonzero(alpha > 0.02)
    return alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1] if len(rows) else alpha


def _place(alpha: np.ndarray, st: Style, rng, width: int, height: int):
    """The ink on a frame-sized canvas, and its box (top, left, bottom, right)."""
    h, w = alpha.shape
    if h > height or w > width:  # a rotated or wide digit may outgrow a tight frame
        from PIL import Image

        f = min(height / h, width / w) * 0.98
        alpha = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).resize(
            (max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.BICUBIC), np.float32) / 255.0
        h, w = alpha.shape
    if st.placement == "offcentre":
        # anywhere at least 8% from the edges, but outside the central third of both axes
        while True:
            cy = rng.uniform(0.08 * height + h / 2, 0.92 * height - h / 2)
            cx = rng.uniform(0.08 * width + w / 2, 0.92 * width - w / 2)
            if abs(cy - height / 2) > height / 6 or abs(cx - width / 2) > width / 6:
                break
    else:
        cy = height / 2 + rng.uniform(-0.05, 0.05) * height
        cx = width / 2 + rng.uniform(-0.05, 0.05) * width
    top = int(np.clip(round(cy - h / 2), 0, height - h))
    left = int(np.clip(round(cx - w / 2), 0, width - w))
    canvas = np.zeros((height, width), np.float32)
    canvas[top:top + h, left:left + w] = alpha
    return canvas, (top, left, top + h, left + w)


def _compose(alpha: np.ndarray, st: Style, rng) -> np.ndarray:
    """Paper with ink on it, RGB float, before light and camera."""
    from scipy import ndimage

    height, width = alpha.shape
    fibre = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), 6.0)
    fibre *= 3.0 / max(float(fibre.std()), 1e-6)
    paper = np.array(PAPER, np.float32)[None, None, :] + fibre[..., None] + rng.normal(0, 1.5, (height, width, 1))
    cover = alpha * st.opacity
    if st.grain:
        grain = ndimage.gaussian_filter(rng.uniform(0, 1, (height, width)), 0.8)
        grain = (grain - grain.min()) / max(float(np.ptp(grain)), 1e-6)
        cover = cover * (1.0 - st.grain + st.grain * grain)
    ink = np.array(st.ink, np.float32)[None, None, :]
    return paper * (1.0 - cover[..., None]) + ink * cover[..., None]


def _light(st: Style, rng, width: int, height: int, box) -> np.ndarray:
    """Brightness over the frame: a slight vignette, plus the condition's gradient or shadow."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ny, nx = (yy - height / 2) / (height / 2), (xx - width / 2) / (width / 2)
    light = 1.0 - 0.12 * (nx * nx + ny * ny) / 2.0
    if st.light == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = nx * np.cos(angle) + ny * np.sin(angle)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        low = rng.uniform(0.30, 0.40)
        light *= 1.0 - (1.0 - low) * t
    elif st.light == "shadow":
        top, left, bottom, right = box
        # a straight shadow edge through the digit's middle half, at any angle
        py = rng.uniform(top + 0.25 * (bottom - top), bottom - 0.25 * (bottom - top))
        px = rng.uniform(left + 0.25 * (right - left), right - 0.25 * (right - left))
        angle = rng.uniform(0, np.pi)
        side = (xx - px) * np.sin(angle) - (yy - py) * np.cos(angle)
        shade = ndimage.gaussian_filter((side > 0).astype(np.float32), 1.5)
        light *= 1.0 - rng.uniform(0.45, 0.55) * shade
    return light


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The centre lines of a binary image, one pixel wide and connected (Zhang & Suen's thinning, 1984).

    Each pass removes the boundary pixels whose removal keeps the shape connected and does not
    shorten a line, first from the south-east, then from the north-west, until none is left.
    """
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            # neighbours P2..P9, clockwise from north
            p = [np.roll(np.roll(img, -dy, 0), -dx, 1) for dy, dx in
                 ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]
            count = sum(n.astype(np.int32) for n in p)
            crossings = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            n, e, s_, w = p[0], p[2], p[4], p[6]
            if step == 0:
                side = (n * e * s_ == 0) & (e * s_ * w == 0)
            else:
                side = (n * e * w == 0) & (n * s_ * w == 0)
            remove = (img == 1) & (count >= 2) & (count <= 6) & (crossings == 1) & side
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)
