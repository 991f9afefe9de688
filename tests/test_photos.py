"""Photos of handwritten digits (issue 11): every benchmark condition renders what its name says, and the
default preparation turns each into an MNIST-like digit (light strokes on black, the training box
size and pen, centred by mass, recognisably the digit), while a 28×28 MNIST-like file is left
exactly as it is.

The digits are scikit-learn's bundled 8×8 digits, enlarged; the accuracy figures per condition
(on real MNIST digits) are in the benchmark (figure 12), not here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from aimodel.data.images import describe_ink
from aimodel.data.images import read_image
from aimodel.data.spec import InputSpec
from aimodel.inference.collect import Item
from aimodel.inference.images import prepare_image
from aimodel.inference.prepare import make_preparer
from benchmarks import photos as renderer
from benchmarks.photos import CONDITIONS, render

#: What training on MNIST writes into meta.json (measured on the benchmark's 8,000 training digits).
MNIST_SPEC = InputSpec(kind="image", shape=(28, 28, 1), class_names=list("0123456789"), background="dark",
                       content_fraction=0.714, ink_coverage=0.144, stroke_width=0.146)


@pytest.fixture(scope="module")
def digits() -> list[np.ndarray]:
    """One MNIST-like 28×28 uint8 digit per class 0-9 (light ink on black)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    out = []
    for k in range(10):
        img8 = d.images[list(d.target).index(k)]
        # sklearn's strokes rarely reach full ink; MNIST's do
        box = Image.fromarray(np.clip(img8 * 1.6 * 255 / 16, 0, 255).astype(np.float32), "F")
        canvas = np.zeros((28, 28), np.float32)
        canvas[4:24, 4:24] = np.asarray(box.resize((20, 20), Image.Resampling.BICUBIC))
        cy, cx = ndimage.center_of_mass(canvas)
        out.append(np.clip(ndimage.shift(canvas, (14 - cy, 14 - cx), order=1), 0, 255).astype(np.uint8))
    return out


def _digits(n: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.stack([np.asarray(Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((28, 28), Image.BICUBIC))
                  for img in d.images[:n]])
    return x, d.target[:n]


def _photo(digit: np.ndarray, condition: str, seed: int = 0) -> io.BytesIO:
    f = io.BytesIO(render(digit, condition, seed=seed))
    f.name = f"{condition}.jpg"
    return f


def _ink_box(img: np.ndarray, share: float = 0.3) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(img > share * img.max())
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


# --- the renderer ---------------------------------------------------------------------------------


def test_every_condition_renders_a_photo_that_shows_what_its_name_says(digits):
    seven = digits[7]
    photos = {c: np.asarray(Image.open(_photo(seven, c)).convert("RGB"), np.float32)
              for c in ["base", *CONDITIONS]}
    sizes = {c: len(render(seven, c)) for c in ("base", "jpeg50")}
    gray = {c: p.mean(axis=2) for c, p in photos.items()}

    def ink(c):  # pixels much darker than the paper around them
        g = gray[c]
        return g < 0.75 * ndimage.grey_closing(g, size=(121, 121))

    for c, p in photos.items():
        width, height = (renderer.BASE if c == "base" else CONDITIONS[c]).frame
        assert p.shape == (height, width, 3), c
        assert np.median(gray[c]) > 100 and ink(c).any(), c  # dark ink on paper
    assert photos["small_offcentre"].shape[:2] == (800, 600)
    top, bottom, left, right = _ink_box(ink("small_offcentre").astype(float))
    assert (bottom - top) < 0.2 * 800  # small
    assert abs((top + bottom) / 2 - 400) > 800 / 6 or abs((left + right) / 2 - 300) > 600 / 6  # off-centre
    top, bottom, left, right = _ink_box(ink("fill").astype(float))
    assert bottom - top > 0.75 * 360
    paper = ndimage.grey_closing(gray["gradient"], size=(121, 121))
    assert np.percentile(paper, 2) < 0.5 * np.percentile(paper, 98)  # uneven light
    shadow = ndimage.grey_closing(gray["shadow"], size=(121, 121))
    assert np.percentile(shadow, 2) < 0.6 * np.percentile(shadow, 98)
    blue = photos["blue_ink"][ink("blue_ink")]
    assert (blue[:, 2] - blue[:, 0]).mean() > 50
    assert gray["pencil"][ink("base")].mean() > gray["base"][ink("base")].mean() + 40  # lighter strokes
    pen = {c: 4 * ndimage.distance_transform_edt(ink(c))[ink(c)].mean() for c in ("thin_pen", "base", "thick_pen")}
    # stroke widths: the fine pen is far thinner than the digit's own strokes; the marker (5 MNIST pixels
    # against 1) draws about five times as wide as the fine pen, whatever the hand's own width
    assert pen["thin_pen"] < 0.5 * pen["base"] and 3.5 < pen["thick_pen"] / pen["thin_pen"] < 6, pen
    assert sizes["jpeg50"] < sizes["base"]
    assert gray["noise_blur"][:40, :40].std() > 2 * gray["base"][:40, :40].std()
    assert render(seven, "rotation", seed=3) == render(seven, "rotation", seed=3)  # seeded


def test_skeleton_is_one_pixel_wide_and_keeps_loops():
    ring = np.zeros((40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    ring[(np.hypot(yy - 20, xx - 20) > 8) & (np.hypot(yy - 20, xx - 20) < 15)] = True
    line = renderer.skeleton(ring)
    assert line.sum() < 0.25 * ring.sum() and (line <= ring).all()
    assert ndimage.label(~line)[1] == 2  # the hole is still a hole
    assert ndimage.label(line, structure=np.ones((3, 3)))[1] == 1


# --- the preparation --------------------------------------------------------------------------------


@pytest.mark.parametrize("k, condition", list(enumerate(CONDITIONS)))
def test_each_condition_is_prepared_like_an_mnist_digit(digits, k, condition):
    """Light strokes on black, the ink box 20 px, centre of mass in the middle, and recognisably the digit:
    of the ten digits, the one photographed is the most similar (a nearest-neighbour classifier)."""
    for d in ((k + 1) % 10, (k + 5) % 10):
        out = prepare_image(_photo(digits[d], condition, seed=d), MNIST_SPEC)
        assert out.shape == (28, 28, 1) and out.dtype == np.float32
        img = out[..., 0]
        assert img.max() >= 250 and np.concatenate([img[:2].ravel(), img[-2:].ravel(),
                                                     img[:, :2].ravel(), img[:, -2:].ravel()]).max() < 1
        top, bottom, left, right = _ink_box(img)
        assert 17 <= max(bottom - top, right - left) <= 21, (condition, d)
        cy, cx = ndimage.center_of_mass(img)
        assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (condition, d)
        similarity = [_corr(img, ref) for ref in digits]
        assert int(np.argmax(similarity)) == d and similarity[d] > 0.5, (condition, d, similarity)


def test_a_28x28_mnist_like_png_is_taken_pixel_for_pixel(digits, tmp_path):
    Image.fromarray(digits[3]).save(tmp_path / "three.png")
    out = prepare_image(tmp_path / "three.png", MNIST_SPEC)
    np.testing.assert_array_equal(out, read_image(tmp_path / "three.png", 1))
    np.testing.assert_array_equal(out[..., 0], digits[3].astype(np.float32))
    Image.fromarray(255 - digits[3]).save(tmp_path / "paper.png")  # the same sample, dark on light: inverted only
    np.testing.assert_array_equal(prepare_image(tmp_path / "paper.png", MNIST_SPEC)[..., 0], digits[3])
    prepared = make_preparer(MNIST_SPEC, {}).prepare(Item("three.png", value=tmp_path / "three.png"))
    np.testing.assert_array_equal(prepared, out)  # what predict, evaluate --data and serve use


def test_without_crop_a_photo_is_only_inverted_and_resized(digits):
    photo = _photo(digits[4], "base")
    out = prepare_image(photo, MNIST_SPEC, crop=False)
    photo.seek(0)
    gray = 255.0 - read_image(photo, 1)
    small = np.asarray(Image.fromarray(gray[..., 0].astype(np.uint8)).resize((28, 28), Image.Resampling.BOX),
                       np.float32)
    np.testing.assert_array_equal(out[..., 0], small)


def test_a_digit_cut_by_the_frame_is_kept_and_the_frame_edge_and_specks_left_out(tmp_path):
    paper = np.full((300, 240), 225, np.uint8)
    paper[60:240, 110:130] = 30   # the digit: a "1"
    paper[150:154, 30:34] = 30    # a speck
    paper[:, :6] = 40             # the table's edge along the photo's border
    Image.fromarray(paper).save(tmp_path / "one.png")
    img = prepare_image(tmp_path / "one.png", MNIST_SPEC)[..., 0]
    top, bottom, left, right = _ink_box(img)
    assert bottom - top >= 19 and right - left <= 4  # the tall bar alone, not the edge or the speck
    tight = np.full((120, 80), 225, np.uint8)
    tight[:, 30:45] = 30  # a "1" cropped tightly: it touches the border
    tight[50:53, 5:8] = 60
    Image.fromarray(tight).save(tmp_path / "tight.png")
    img = prepare_image(tmp_path / "tight.png", MNIST_SPEC)[..., 0]
    top, bottom, left, right = _ink_box(img)
    assert bottom - top >= 19 and right - left <= 6


def test_a_model_saved_before_stroke_width_existed_still_gets_the_recipe(digits):
    old = InputSpec(kind="image", shape=(28, 28, 1), class_names=list("0123456789"), background="dark",
                    content_fraction=0.714, ink_coverage=0.144)
    img = prepare_image(_photo(digits[2], "gradient"), old)[..., 0]
    top, bottom, left, right = _ink_box(img)
    assert 17 <= max(bottom - top, right - left) <= 21
    assert abs(ndimage.center_of_mass(img)[0] - 14) <= 1


def test_describe_ink_measures_the_stroke_width_of_the_training_images():
    thin, thick = np.zeros((20, 28, 28, 1), np.uint8), np.zeros((20, 28, 28, 1), np.uint8)
    thin[:, 4:24, 12:14] = 255   # 2 px strokes in a 20 px box
    thick[:, 4:24, 10:16] = 255  # 6 px
    widths = [describe_ink(x)["stroke_width"] for x in (thin, thick)]
    assert widths[0] == pytest.approx(2 / 20, rel=0.35) and widths[1] == pytest.approx(6 / 20, rel=0.35)


def test_the_digit_is_placed_where_the_training_images_have_their_centre_of_mass(digits):
    """MNIST centres by mass at pixel 14; scikit-learn's 8×8 digits are centred by their box, at 3.5:
    half a pixel is an eighth of their frame."""
    from sklearn.datasets import load_digits

    small = load_digits().images[:300, ..., None] * (255 / 16)
    spec = InputSpec(kind="image", shape=(8, 8, 1), class_names=list("0123456789"), **describe_ink(small))
    assert spec.background == "dark" and spec.ink_centre == pytest.approx([3.5, 3.5], abs=0.15)
    assert describe_ink(np.stack(digits)[..., None])["ink_centre"] == pytest.approx([14, 14], abs=0.3)
    for k in (0, 7):  # MNIST-like digits: their centre of mass goes to MNIST's place when none is recorded
        img = prepare_image(_photo(digits[k], "base", seed=k), MNIST_SPEC)[..., 0]
        assert ndimage.center_of_mass(img) == pytest.approx([14, 14], abs=0.5)
    zero = Path(__file__).resolve().parent.parent / "examples" / "digit_0.png"  # a narrow "0"
    column = ndimage.center_of_mass(prepare_image(zero, spec)[..., 0])[1]
    assert column == pytest.approx(spec.ink_centre[1], abs=0.5)
    without = InputSpec(**{**spec.to_json(), "shape": (8, 8, 1), "ink_centre": None})
    fallback = ndimage.center_of_mass(prepare_image(zero, without)[..., 0])[1]
    assert fallback == pytest.approx(4.0, abs=0.5) and fallback - column > 0.5  # a whole pixel apart


def test_a_blank_photo_gives_a_blank_digit(tmp_path):
    path = tmp_path / "paper.jpg"
    Image.fromarray(np.full((400, 300, 3), 230, np.uint8)).save(path)
    assert prepare_image(path, MNIST_SPEC).max() == 0


def test_photos_are_recognised_by_a_tiny_model_trained_on_enlarged_digits(tmp_path):
    """A small CNN trained on 28×28 enlarged sklearn digits, then shown photos of held-out digits:
    the default preparation must beat no preparation (crop=False) by a wide margin in total."""
    import keras

    x, y = _digits(1797)
    train, test = slice(0, 1500), slice(1500, 1500 + 44)
    spec = InputSpec(kind="image", shape=(28, 28, 1), class_names=[str(i) for i in range(10)],
                     **describe_ink(x[train][..., None]))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[train][..., None].astype("float32"), y[train], epochs=4, batch_size=64, verbose=0)

    paths = []
    for i, digit in enumerate(x[test]):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(render(digit, sorted(CONDITIONS)[i % len(CONDITIONS)], seed=i))

    def accuracy(crop: bool) -> float:
        batch = np.stack([prepare_image(path, spec, crop=crop) for path in paths])
        return float((model.predict(batch, verbose=0).argmax(1) == y[test]).mean())

    prepared, raw = accuracy(True), accuracy(False)
    assert prepared >= 0.8 and prepared >= raw + 0.4, (prepared, raw)


@pytest.mark.parametrize("pen", [70, 85])
def test_a_marker_digit_fills_the_training_box_once_its_strokes_are_thinned(tmp_path, pen):
    """A marker's ink box is wider than its digit by the pen's width: after thinning, the box is
    measured again, so the digit still spans the 20-pixel box (14 px for the 85 px pen before)."""
    from PIL import ImageDraw

    paper = Image.new("RGB", (400, 400), (235, 235, 230))
    ImageDraw.Draw(paper).ellipse((120, 80, 280, 320), outline=(20, 20, 20), width=pen)  # a "0", 240 px high
    paper.save(tmp_path / "zero.png")
    img = prepare_image(tmp_path / "zero.png", MNIST_SPEC)[..., 0]
    top, bottom, left, right = _ink_box(img)
    assert 19 <= bottom - top <= 21 and right - left < bottom - top, (top, bottom, left, right)
    if pen == 70:  # a 20 px hole in the photo; the 85 px pen fills the ellipse's 160 px width
        assert img[14, 14] < 0.3 * img.max()  # the loop stays open


@pytest.mark.parametrize("field, value", [("stroke_width", "thick"), ("ink_centre", [14]), ("background", "grey"),
                                          ("content_fraction", 3), ("encoding_errors", "ignore")])
def test_a_hand_edited_spec_field_is_named_when_loaded(field, value):
    data = {**MNIST_SPEC.to_json(), "shape": [28, 28, 1], field: value}
    with pytest.raises(ValueError, match=rf"^{field}: expected .*, got {re.escape(repr(value))}$"):
        InputSpec.from_json(data)
    assert InputSpec.from_json({**MNIST_SPEC.to_json(), "shape": [28, 28, 1]}) == MNIST_SPEC


def test_predict_names_a_damaged_meta_json_field_in_one_line(tmp_path):
    import json

    from click.testing import CliRunner

    from aimodel.cli import main
    from tests.conftest import TINY, write_config

    config = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    assert CliRunner().invoke(main, ["train", str(config), "--run-dir", str(tmp_path / "run"), "--quiet"]).exit_code == 0
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    meta["input"]["ink_centre"] = "middle"
    (tmp_path / "run" / "meta.json").write_text(json.dumps(meta))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "d.png")
    result = CliRunner().invoke(main, ["predict", str(tmp_path / "d.png"), "--model", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "meta.json: damaged description of the model's input (ink_centre: expected [row, column]" in result.output
