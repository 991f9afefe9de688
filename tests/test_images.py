"""Preparing a user's image file like the training data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from aimodel.data.spec import InputSpec
from aimodel.errors import DataError
from aimodel.inference.images import prepare_image

SPEC = InputSpec(kind="image", shape=(8, 8, 1), class_names=list("0123456789"), background="dark",
                 content_fraction=1.0, ink_coverage=0.4)


def _photo(path, light_paper=True, mode="L", size=(120, 90)):
    """A thick dark bar on light paper (or the reverse), off-centre."""
    paper, ink = (230, 20) if light_paper else (10, 240)
    arr = np.full((size[1], size[0]), paper, np.uint8)
    arr[20:70, 70:85] = ink
    img = Image.fromarray(arr, "L")
    if mode != "L":
        img = img.convert(mode)
    img.save(path)
    return path


def test_dark_ink_on_light_paper_is_inverted_cropped_and_centred(tmp_path):
    out = prepare_image(_photo(tmp_path / "a.png"), SPEC)
    assert out.shape == (8, 8, 1) and out.dtype == np.float32
    assert out.max() == pytest.approx(255, abs=1)
    # Background became dark; the bar is centred though it was at the right of the photo.
    assert out[0, 0, 0] < 30 and out[:, 3:5, 0].mean() > 100
    assert np.allclose(out[:, :2, 0].mean(), out[:, -2:, 0].mean(), atol=30)


def test_light_on_dark_photo_is_not_inverted(tmp_path):
    out = prepare_image(_photo(tmp_path / "b.png", light_paper=False), SPEC)
    assert out[0, 0, 0] < 30 and out.max() > 200


def test_polarity_keep_turns_detection_off(tmp_path):
    out = prepare_image(_photo(tmp_path / "a.png"), SPEC, polarity="keep", crop=False)
    assert out[0, 0, 0] > 200  # light paper stays light


def test_rgba_palette_and_16_bit_are_converted(tmp_path):
    for mode in ("RGBA", "P", "RGB"):
        out = prepare_image(_photo(tmp_path / f"{mode}.png", mode=mode), SPEC)
        assert out.shape == (8, 8, 1) and out[0, 0, 0] < 30
    arr16 = (np.asarray(Image.open(_photo(tmp_path / "x.png"))).astype(np.uint16) * 257)
    Image.fromarray(arr16).save(tmp_path / "i16.png")
    out = prepare_image(tmp_path / "i16.png", SPEC)
    assert out.shape == (8, 8, 1) and out[0, 0, 0] < 30


def test_rgb_model_gets_rgb_resized(tmp_path):
    spec = InputSpec(kind="image", shape=(16, 16, 3), class_names=["a", "b"])
    out = prepare_image(_photo(tmp_path / "c.png", mode="RGB"), spec)
    assert out.shape == (16, 16, 3)


@pytest.mark.parametrize("content", [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_files_raise_data_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"bad\.png: not a readable image"):
        prepare_image(path, SPEC)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        prepare_image(tmp_path / "none.png", SPEC)


def test_file_already_at_the_model_size_is_not_cropped(tmp_path):
    arr = np.zeros((8, 8), np.uint8)
    arr[1:7, 5] = 200  # an off-centre stroke, as in a dataset sample saved as a file
    Image.fromarray(arr).save(tmp_path / "sample.png")
    np.testing.assert_array_equal(prepare_image(tmp_path / "sample.png", SPEC)[..., 0], arr)
    Image.fromarray(255 - arr).save(tmp_path / "inverted.png")  # polarity is still matched
    np.testing.assert_array_equal(prepare_image(tmp_path / "inverted.png", SPEC)[..., 0], arr)
