"""Make a user's image file look like the training data (reading it is :mod:`aimodel.data.images`).

Evaluate ``--data``, predict and anything that serves a model call :func:`prepare_image`;
training images are never passed through it.

For models trained on light strokes on a dark background (MNIST, scikit-learn digits),
a photo of handwriting goes through the MNIST recipe (LeCun et al.: "normalized to fit in a
20x20 pixel box while preserving their aspect ratio ... centered in a 28x28 image by
computing the center of mass of the pixels"), after three steps a photo needs first:

1. **Paper and light.** The paper's brightness is estimated at every pixel by a grey-level
   closing wider than the strokes (it removes the strokes but keeps large shapes, so an
   even gradient, a vignette and the straight edge of a hard shadow all stay in it), and
   the ink is measured as darkness *relative to that paper*. A shadow darkens ink and
   paper alike, so the ratio does not change under it. The darkest colour channel is
   used, so blue or red ink is as dark as black ink.
2. **The digit.** Ink levels are stretched between the paper's noise and the strongest
   ink; the largest connected mark and the marks near it are the digit, specks and the
   frame's edges are left out.
3. **The pen.** The strokes are thickened or thinned until their width, relative to the
   digit's size, is that of the training images (``InputSpec.stroke_width``), so a fine
   pen or a marker looks like the training data's pen after shrinking.

A file already at the model's size is taken as a sample in the training format and is
only inverted if its polarity is the opposite of the training data's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from aimodel.data.images import read_image, resize_float, resize_image, stroke_fraction
from aimodel.data.spec import InputSpec

Polarity = Literal["auto", "keep", "invert"]

#: Photos are analysed with their longer side at most this many pixels (a 12-megapixel photo
#: is 4,000): enough for a digit that spans a tenth of the frame, and fast.
WORK_SIDE = 800
#: Images are decoded at no less than this many times the model's side (and WORK_SIDE) on their shorter side.
DECODE_MARGIN = 4
#: The digit's box, in model pixels, is measured and corrected at this many times its final size.
DETAIL = 4
#: The basins of the paper estimate are filled at most this many pixels wide (it is smooth); 128 gave
#: the same prepared inputs within 0.2 grey levels on average at 8 times the cost (docs/speed.md).
BASIN_SIDE = 64
#: The paper estimate (a closing a fifth of the photo wide, then its basins filled) is computed with the
#: photo area-averaged to at most this many pixels wide, and enlarged back: it is smooth by construction
#: (docs/speed.md, "Small photos").
PAPER_SIDE = 100
#: The ink-polarity check looks at the photo at most this many pixels wide (area-averaged, which also
#: removes the camera's noise); WORK_SIDE gave the same verdicts at four times the cost (docs/speed.md).
POLARITY_SIDE = 100
#: The digit step measures the paper's noise and the ink's peak on every this-many-th pixel and row.
STATS_STEP = 2
#: Stroke widths kept as they are, as multiples of the training data's median (``InputSpec.stroke_width``).
PEN_RANGE = (0.75, 1.4)
#: Without ``content_fraction`` in the spec: MNIST's 20 of 28 pixels.
DEFAULT_FRACTION = 20 / 28


def prepare_image(
    path: str | Path, spec: InputSpec, polarity: Polarity = "auto", crop: bool = True
) -> np.ndarray:
    """Convert one file as the training data looks: size, channels, ink polarity and, for photos
    of strokes, the MNIST recipe (see the module docstring).

    Args:
        spec: the model's input spec (``meta.json``).
        polarity: ``auto`` inverts a photo whose background is the opposite of the training
            images'; ``keep`` and ``invert`` force it.
        crop: for models of light strokes on dark (``spec.background == "dark"``): find the
            strokes, fit and centre them as in training. ``False`` only inverts and resizes.

    Returns:
        float32 pixels ``(height, width, channels)`` in 0..255.
    """
    height, width, channels = spec.shape
    strokes = channels == 1 and spec.background == "dark" and crop
    # A photo far larger than the analysis needs is decoded reduced (see read_image): cheap, same answer.
    # The strokes recipe works at WORK_SIDE, so a photo is brought to that size while it is still 8-bit.
    if strokes:  # 8-bit pixels: the recipe's first steps (channel minima, averages) are cheaper on them
        arr = read_image(path, 3, max_side=WORK_SIDE, dtype=np.uint8)
    else:
        arr = read_image(path, channels, min_side=max(WORK_SIDE, DECODE_MARGIN * max(height, width)))
    if arr.shape[:2] == (height, width):
        # Already the model's size: a sample in the training format (a dataset image saved as a
        # file), not a photo; cropping and re-inking it would only distort it.
        if strokes:
            arr = read_image(path, channels)
        strokes = False
    if strokes:
        return _strokes_recipe(arr, spec, polarity)[..., None]
    if channels == 1 and spec.background is not None:
        arr = _match_polarity(arr[..., 0], spec, polarity)[..., None]
    if arr.shape[:2] != (height, width):
        arr = resize_image(arr, height, width)
    return arr


def _light_background(gray: np.ndarray) -> bool:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) >= 128


def _match_polarity(gray: np.ndarray, spec: InputSpec, polarity: Polarity) -> np.ndarray:
    wants_light = spec.background == "light"
    invert = polarity == "invert" or (polarity == "auto" and _light_background(gray) != wants_light)
    return 255.0 - gray if invert else gray


def _dark_marks(gray: np.ndarray) -> bool:
    """True for dark marks on a lighter ground (ink on paper), False for light marks on dark.

    The ground is most of the picture (its median); the marks are the end of the histogram that
    lies further from it in *ratio*: black ink is a fifth of the paper's brightness, while even a
    hard shadow or a dim corner only halves it, so a photo half in shadow still reads as paper.
    """
    from scipy import ndimage

    small = _shrink(gray, POLARITY_SIDE)
    if max(gray.shape) < 2 * POLARITY_SIDE:  # averaging over 2×2 or more pixels already removes the noise
        small = ndimage.gaussian_filter(small, 1.0)
    lo, mid, hi = _percentiles(small, (0.1, 50, 99.9))
    return np.log((mid + 1.0) / (lo + 1.0)) >= np.log((hi + 1.0) / (mid + 1.0))


def _strokes_recipe(rgb: np.ndarray, spec: InputSpec, polarity: Polarity) -> np.ndarray:
    """A photo (H, W, 3), uint8 or float 0..255 -> the model's (height, width) image of light strokes on black, 0..255."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # elementwise on views: faster than axis=2 reductions
    wide = np.uint16 if rgb.dtype == np.uint8 else np.float32  # a sum of three 8-bit levels needs 16 bits
    on_paper = polarity == "invert" or (
        polarity == "auto" and _dark_marks((red + green.astype(wide) + blue).astype(np.float32) / 3.0))
    # "paper" view: dark marks on a light ground, whatever the photo's polarity
    view = (np.minimum(np.minimum(red, green), blue).astype(np.float32) if on_paper
            else 255.0 - np.maximum(np.maximum(red, green), blue).astype(np.float32))
    view = _shrink(view, WORK_SIDE)
    ink = _relative_ink(view)
    digit = _digit(ink)
    height, width = spec.shape[0], spec.shape[1]
    if digit is None:
        return np.zeros((height, width), np.float32)
    box = max(1, int(round((spec.content_fraction or DEFAULT_FRACTION) * max(height, width))))
    fitted = _fit(digit, box, spec.stroke_width)
    # Without a measured centre (a model saved before it was): MNIST's, the middle of the pixel grid.
    centre = spec.ink_centre or (height / 2, width / 2)
    return _centre_of_mass(fitted, height, width, centre) * 255.0


def _shrink(gray: np.ndarray, side: int) -> np.ndarray:
    h, w = gray.shape
    if max(h, w) <= side:
        return gray.astype(np.float32)
    factor = max(h, w) / side
    if factor in (2, 3, 4) and h % factor == 0 and w % factor == 0:  # a 200×200 upload: block means by slices
        k = int(factor)
        total = np.zeros((h // k, w // k), np.float32)
        for i in range(k):
            for j in range(k):
                total += gray[i::k, j::k]
        return total * np.float32(1 / (k * k))
    f = side / max(h, w)
    return _resize(gray, max(1, round(h * f)), max(1, round(w * f)))


def _resize(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """Float image resize: area averaging when shrinking, bicubic when enlarging."""
    return resize_float(arr, height, width)


def _percentiles(a: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.percentile(a, qs)`` (linear interpolation) from one partition, without its general machinery
    (which costs more than the partition itself on a 100×100 sample)."""
    flat = a.ravel()
    n = flat.size
    where = [q / 100.0 * (n - 1) for q in qs]
    kth = sorted({int(np.floor(x)) for x in where} | {min(int(np.floor(x)) + 1, n - 1) for x in where})
    part = np.partition(flat, kth)
    out = []
    for x in where:
        lo = int(np.floor(x))
        below, above = float(part[lo]), float(part[min(lo + 1, n - 1)])
        out.append(below + (above - below) * (x - lo))
    return out


def _relative_ink(view: np.ndarray) -> np.ndarray:
    """Darkness relative to the local paper, 0 (paper) .. 1 (black), at ``view``'s size."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(view, 1.0)  # camera noise would bias the closing upwards
    h, w = smooth.shape
    small = _shrink(smooth, PAPER_SIDE)
    # A closing a fifth of the photo wide removes strokes but keeps shadows and the light's changes,
    # which are larger than strokes.
    paper = _closing(small, max(9, int(min(view.shape) / 5) | 1) * small.shape[0] // h | 1)
    paper = np.maximum(paper, _fill_basins(paper))
    if paper.shape != (h, w):
        paper = _resize(paper, h, w)
    ink = np.maximum(paper, np.float32(1.0))  # then in place: 200×200 temporaries cost more than the arithmetic
    np.divide(smooth, ink, out=ink)
    np.subtract(1.0, ink, out=ink)
    return np.clip(ink, 0.0, 1.0, out=ink)


def _closing(a: np.ndarray, size: int) -> np.ndarray:
    """``ndimage.grey_closing(a, size=(size, size))`` for an odd ``size``, bit for bit, as its four 1-D passes
    called directly (the n-D wrapper's set-up is a fifth of the cost at 100 pixels)."""
    from scipy import ndimage

    out = ndimage.maximum_filter1d(a, size, axis=0)
    out = ndimage.maximum_filter1d(out, size, axis=1)
    out = ndimage.minimum_filter1d(out, size, axis=0)
    return ndimage.minimum_filter1d(out, size, axis=1)


def _fill_basins(paper: np.ndarray) -> np.ndarray:
    """``paper`` with every dark basin (a region darker than all around it) filled to its rim.

    A blob of ink wider than the closing (a thick "8" filling the frame) stays in the closing as
    dark "paper" with lighter paper all around it; shadows, gradients and vignettes reach the
    photo's edge and are no basins. Grey-level reconstruction by erosion from the border,
    computed at most BASIN_SIDE pixels wide (the closing is smooth) and enlarged back.
    """

    h, w = paper.shape
    f = min(1.0, BASIN_SIDE / max(h, w))
    small = _resize(paper, max(3, round(h * f)), max(3, round(w * f))) if f < 1 else paper.astype(np.float32)
    marker = _reconstruct_from_border(small)
    return _resize(marker, h, w) if f < 1 else marker


def _reconstruct_from_border(mask: np.ndarray) -> np.ndarray:
    """Grey-level reconstruction by erosion of ``mask`` from its border, in 3×3 steps until nothing changes.

    Each step lowers every pixel to the smallest of its 3×3 neighbours, never below ``mask``; a step is
    a few in-place NumPy minima on a padded buffer (scipy's grey_erosion costs more in its set-up than in
    its arithmetic here). The steps start from the straight paths to the four edges (the highest ``mask``
    on the way, running maxima): an upper bound of the answer that is the answer wherever such a path is
    the best one, so only real basins take steps, as many as they are across; the fixed point is the same
    as from the usual start (``mask``'s maximum inside, its border on the edge), bit for bit.
    """
    h, w = mask.shape
    mask = np.asarray(mask, np.float32)
    peak = np.maximum.accumulate
    marker = np.full((h + 2, w + 2), np.inf, np.float32)  # the pad never wins a minimum
    inner = marker[1:-1, 1:-1]
    np.minimum(peak(mask, axis=1), peak(mask[:, ::-1], axis=1)[:, ::-1], out=inner)
    np.minimum(inner, peak(mask, axis=0), out=inner)
    np.minimum(inner, peak(mask[::-1], axis=0)[::-1], out=inner)
    rows = np.empty((h + 2, w), np.float32)
    grown = np.empty((h, w), np.float32)
    for _ in range(mask.size):  # a path to the edge is never longer (a smooth paper's basins take a few)
        np.minimum(marker[:, :-2], marker[:, 1:-1], out=rows)
        np.minimum(rows, marker[:, 2:], out=rows)
        np.minimum(rows[:-2], rows[1:-1], out=grown)
        np.minimum(grown, rows[2:], out=grown)
        np.maximum(grown, mask, out=grown)
        if np.array_equal(grown, inner):
            break
        inner[...] = grown
    return inner.copy()


def _digit(ink: np.ndarray) -> Optional[np.ndarray]:
    """The digit's ink (0..1), cropped to it, everything else removed; None when there is none."""
    from scipy import ndimage

    # The paper's level and noise and the ink's peak from every STATS_STEP-th pixel of every STATS_STEP-th
    # row (a quarter of the partitioning work), unless that leaves too few pixels for the 99.9th percentile.
    step = STATS_STEP if ink.size >= 10000 * STATS_STEP ** 2 else 1
    sample = ink[::step, ::step]
    median, peak = _percentiles(sample, (50, 99.9))  # one partition for both
    noise = 1.4826 * _percentiles(np.abs(sample - np.float32(median)), (50,))[0]
    floor = median + 4.0 * noise + 0.02
    if peak <= floor + 0.05:
        peak = float(ink.max())
        if peak <= floor + 0.05:
            return None
    level = np.clip((ink - floor) / (peak - floor), 0.0, 1.0)
    strong = level > 0.5
    # Pieces a few pixels apart are one mark: a pencil or a dry pen leaves gaps in a stroke.
    join = max(2, round(0.01 * max(ink.shape)))
    h, w = ink.shape
    # Everything below happens within join + 4 pixels of a strong one: cut to that box first.
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    if not len(rows):
        return None
    top0, left0 = max(rows[0] - join - 4, 0), max(cols[0] - join - 4, 0)
    cut = (slice(top0, min(rows[-1] + join + 5, h)), slice(left0, min(cols[-1] + join + 5, w)))
    level, strong = level[cut], strong[cut]
    labels, n = ndimage.label(_dilate(strong, join), structure=np.ones((3, 3)))
    labels[~strong] = 0
    if not n:
        return None
    index = np.arange(1, n + 1)
    mass = np.bincount(labels.ravel(), level.ravel(), n + 1)[1:]  # ndimage.sum_labels, without its set-up
    boxes = ndimage.find_objects(labels)
    bottom0, right0 = cut[0].stop - top0, cut[1].stop - left0  # the photo's last row and column, in the cut
    edge = np.array([(b[0].start == 0 and top0 == 0) or (b[1].start == 0 and left0 == 0)
                     or (b[0].stop == bottom0 and cut[0].stop == h) or (b[1].stop == right0 and cut[1].stop == w)
                     for b in boxes])
    # The frame's edges (a table, the page's border) touch the photo's border; the digit does not,
    # unless nothing else of some size is there (a digit cropped tightly, and a speck of dust).
    inside = np.where(~edge & (mass >= 0.05 * mass.max()))[0]
    candidates = inside if len(inside) else np.arange(n)
    main = candidates[np.argmax(mass[candidates])]
    top, bottom = boxes[main][0].start, boxes[main][0].stop
    left, right = boxes[main][1].start, boxes[main][1].stop
    reach = 0.5 * max(bottom - top, right - left)
    keep = [main]
    for i in candidates:
        if i == main or mass[i] < 0.05 * mass[main]:
            continue
        b = boxes[i]
        gap = max(top - b[0].stop, b[0].start - bottom, left - b[1].stop, b[1].start - right, 0)
        if gap <= reach:
            keep.append(i)
    wanted = np.zeros(n + 1, bool)
    wanted[index[keep]] = True
    chosen = wanted[labels]  # a lookup table: np.isin sorts
    # the faint rims of the kept strokes stay; other marks go
    chosen = _dilate(chosen, 2)
    rows, cols = np.nonzero(chosen & (level > 0.5))
    level = np.where(chosen, level, 0.0)
    pad = 2
    return level[max(rows.min() - pad, 0):rows.max() + 1 + pad, max(cols.min() - pad, 0):cols.max() + 1 + pad]


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``mask`` grown by ``iterations`` steps of the 4-neighbour cross: scipy's ``binary_dilation(mask,
    iterations=...)`` bit for bit, as a few in-place ORs of shifted views (scipy's costs ten times more here)."""
    grown = mask.copy()
    for _ in range(iterations):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def _fit(digit: np.ndarray, box: int, stroke_width: Optional[float]) -> np.ndarray:
    """Scale the digit so its larger side is ``box`` pixels (aspect kept), with the training pen."""
    from scipy import ndimage

    side = DETAIL * box
    detail = _larger_side(digit, side)
    if stroke_width:
        have = stroke_fraction(detail, side)
        if have:
            # Training pens vary too (MNIST: 0.75-1.4 times the median width for 80% of digits):
            # only a pen outside that range is brought to its nearer end.
            want = min(max(have, PEN_RANGE[0] * stroke_width), PEN_RANGE[1] * stroke_width)
            change = (want - have) * side / 2.0  # pixels to add (or remove) on each side
            radius = int(round(abs(change)))
            if change < 0:
                radius = min(radius, int(have * side / 4))  # thin a marker, never erase a stroke
            if radius:
                yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
                disk = xx * xx + yy * yy <= radius * radius
                if change > 0:
                    detail = ndimage.grey_dilation(detail, footprint=disk)
                else:
                    detail = ndimage.grey_erosion(detail, footprint=disk)
                detail = _refit(detail, side)
    h, w = detail.shape
    small = _resize(detail, max(1, round(h / DETAIL)), max(1, round(w / DETAIL)))
    peak = float(small.max())
    return np.clip(small / peak, 0.0, 1.0) if peak > 0 else small


def _refit(detail: np.ndarray, side: int) -> np.ndarray:
    """The ink box measured again after the pen changed, scaled back to ``side``: the box of a
    marker's digit is wider than the digit's by the marker's width, so once the strokes are thinned
    the digit would fill less of the box than training digits do (and a fine pen's, thickened, more)."""
    rows, cols = np.nonzero(detail > 0.5 * float(detail.max()))
    if not len(rows):
        return detail
    return _larger_side(detail[rows.min():rows.max() + 1, cols.min():cols.max() + 1], side)


def _larger_side(arr: np.ndarray, side: int) -> np.ndarray:
    """``arr`` resized, aspect kept, so that its larger side is ``side`` pixels."""
    f = side / max(arr.shape)
    return _resize(arr, max(1, round(arr.shape[0] * f)), max(1, round(arr.shape[1] * f)))


def _centre_of_mass(digit: np.ndarray, height: int, width: int, centre) -> np.ndarray:
    """Place ``digit`` on a black (height, width) canvas with its centre of mass at ``centre`` (row, column),
    where the training images have theirs (half a pixel matters at 8×8)."""
    canvas = np.zeros((height, width), np.float32)
    h, w = min(digit.shape[0], height), min(digit.shape[1], width)
    digit = digit[:h, :w]
    total = float(digit.sum(dtype=np.float64))
    if total > 0:  # ndimage.center_of_mass, without its label machinery
        cy = float(digit.sum(axis=1, dtype=np.float64) @ np.arange(h)) / total
        cx = float(digit.sum(axis=0, dtype=np.float64) @ np.arange(w)) / total
    else:
        cy, cx = h / 2, w / 2
    top = min(max(math.floor(centre[0] - cy + 0.5), 0), height - h)  # to the nearest pixel
    left = min(max(math.floor(centre[1] - cx + 0.5), 0), width - w)
    canvas[top:top + h, left:left + w] = digit
    return canvas
