"""Draw the example digit photos in this folder (dark ink on light, slightly grey paper).

They imitate what a user photographs: a digit written with a thick pen on paper, larger
than the training images and the opposite polarity. Regenerate with:

    .venv/bin/python examples/make_examples.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Strokes on a 100×100 grid: each digit is a list of polylines (or ("arc", box, start, end)).
STROKES = {
    0: [("ellipse", (30, 12, 72, 88))],
    1: [[(42, 26), (56, 12), (56, 88)]],
    2: [("arc", (28, 12, 72, 52), 190, 20), [(70, 38), (28, 88), (74, 88)]],
    3: [("arc", (30, 12, 70, 50), 200, 90), ("arc", (28, 46, 72, 88), 270, 160)],
    4: [[(62, 88), (62, 12), (24, 62), (78, 62)]],
    5: [[(70, 14), (36, 14), (32, 46)], ("arc", (28, 40, 72, 88), 220, 150)],
    7: [[(26, 14), (74, 14), (44, 88)]],
}


def draw(digit: int, size: int = 240, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed + digit)
    paper = Image.new("L", (size, size), 228)
    pen = ImageDraw.Draw(paper)
    s = size / 100
    width = int(9 * s)
    for stroke in STROKES[digit]:
        if isinstance(stroke, list):
            pts = [(x * s, y * s) for x, y in stroke]
            pen.line(pts, fill=35, width=width, joint="curve")
            for x, y in pts:
                pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=35)
        elif stroke[0] == "ellipse":
            pen.ellipse(tuple(v * s for v in stroke[1]), outline=35, width=width)
        else:
            _, box, start, end = stroke
            pen.arc(tuple(v * s for v in box), start, end, fill=35, width=width)
    paper = paper.filter(ImageFilter.GaussianBlur(1.2 * s))
    arr = np.asarray(paper, np.float32)
    shade = np.linspace(-12, 12, size)[None, :]  # uneven light across the page
    arr = np.clip(arr + shade + rng.normal(0, 4, arr.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L")


if __name__ == "__main__":
    here = Path(__file__).parent
    for d in STROKES:
        draw(d).save(here / f"digit_{d}.png", optimize=True)
        print(here / f"digit_{d}.png")
