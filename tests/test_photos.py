"""Photos of handwritten digits (issue 11): every benchmark condition renders, and the default
preparation turns each into an MNIST-like digit (light strokes on black, centred by mass, the
training box size and pen), while a 28×28 MNIST-like file is left exactly as it is.

The digits are scikit-learn's bundled 8×8 digits, enlarged; the accuracy figures per condition
(on real MNIST digits) are in the benchmark (figure 12), not here.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from aimodel.data.spec import InputSpec
from aimodel.inference.images import prepare_image
from benchmarks.photos import CONDITIONS, render

#: the spec training on MNIST records (see meta.json of an MNIST run)
MNIST = InputSpec(kind="image", shape=(28, 28, 1), class_names=[str(i) for i in range(10)], background="dark",
                  content_fraction=0.714, ink_coverage=0.143, stroke_width=0.161)


def _digits(n: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.stack([np.asarray(Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((28, 28), Image.BICUBIC))
                  for img in d.images[:n]])
    return x, d.target[:n]


def _ink_box(img: np.ndarray):
    rows, cols = np.nonzero(img > 0.3 * img.max())
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_each_condition_renders_and_is_prepared_like_mnist(condition, tmp_path):
    x, _ = _digits(3)
    for i, digit in enumerate(x):
        jpeg = render(digit, condition, seed=i)
        photo = Image.open(io.BytesIO(jpeg))
        assert photo.format == "JPEG" and photo.mode == "RGB"
        width, height = CONDITIONS[condition].frame
        assert photo.size == (width, height)
        if condition == "small_offcentre":
            assert height * width >= 600 * 800
        # dark ink on light paper: the photo's median is paper
        assert np.median(np.asarray(photo.convert("L"))) > 100

        path = tmp_path / f"{condition}_{i}.jpg"
        path.write_bytes(jpeg)
        out = prepare_image(path, MNIST)[..., 0]
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert 0 <= out.min() and out.max() <= 255 and out.max() > 200  # strokes stretched to white
        # light strokes on black: the border is background
        border = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
        assert np.median(border) < 10
        # centred by mass, like MNIST (within 1.5 px)
        cy, cx = ndimage.center_of_mass(out)
        assert abs(cy - 13.5) <= 1.5 and abs(cx - 13.5) <= 1.5, (cy, cx)
        # the ink box's larger side fits MNIST's 20-pixel box (0.714 × 28), give or take the pen
        top, bottom, left, right = _ink_box(out)
        assert 15 <= max(bottom - top, right - left) <= 23, (top, bottom, left, right)


def test_an_mnist_like_file_is_left_exactly_as_it_is(tmp_path):
    x, _ = _digits(2)
    for i, digit in enumerate(x):
        path = tmp_path / f"{i}.png"
        Image.fromarray(digit).save(path)
        assert np.array_equal(prepare_image(path, MNIST)[..., 0], digit.astype(np.float32))
        # its inverse (dark on light, 28×28) is only inverted back
        Image.fromarray(255 - digit).save(path)
        assert np.array_equal(prepare_image(path, MNIST)[..., 0], digit.astype(np.float32))


def test_a_blank_photo_gives_a_blank_digit(tmp_path):
    path = tmp_path / "paper.jpg"
    Image.fromarray(np.full((400, 300, 3), 230, np.uint8)).save(path)
    assert prepare_image(path, MNIST).max() == 0


def test_photos_are_recognised_by_a_tiny_model_trained_on_enlarged_digits(tmp_path):
    """A small CNN trained on 28×28 enlarged sklearn digits, then shown photos of held-out digits:
    the default preparation must beat no preparation (crop=False) by a wide margin in total."""
    import keras

    from aimodel.data.base import describe_ink

    x, y = _digits(1797)
    train, test = slice(0, 1500), slice(1500, 1500 + 44)
    background, fraction, coverage, stroke = describe_ink(x[train][..., None])
    spec = InputSpec(kind="image", shape=(28, 28, 1), class_names=[str(i) for i in range(10)],
                     background=background, content_fraction=fraction, ink_coverage=coverage, stroke_width=stroke)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[train][..., None].astype("float32"), y[train], epochs=4, batch_size=64, verbose=0)

    def accuracy(crop: bool) -> float:
        batch = []
        for i, digit in enumerate(x[test]):
            condition = sorted(CONDITIONS)[i % len(CONDITIONS)]
            path = tmp_path / f"{i}.jpg"
            path.write_bytes(render(digit, condition, seed=i))
            batch.append(prepare_image(path, spec, crop=crop))
        return float((model.predict(np.stack(batch), verbose=0).argmax(1) == y[test]).mean())

    prepared, raw = accuracy(True), accuracy(False)
    assert prepared >= 0.7 and prepared >= raw + 0.3, (prepared, raw)
