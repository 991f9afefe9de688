"""The tf.data pipeline (streaming, caches, per-epoch shuffle), image preprocessing layers, data inspect."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from aimodel.cli import main
from aimodel.config import load_config
from aimodel.data import load_data
from aimodel.data.base import Split
from aimodel.data.pipeline import make_dataset, make_inputs
from tests._data_fixtures import image_folder
from tests.conftest import TINY, write_config


def _cfg(tmp_path, dataset: dict, name="c.yaml"):
    return load_config(write_config(tmp_path / name, dict(TINY, dataset=dataset)))


def _epoch(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_streamed_memory_and_file_caches_give_the_same_pixels(tmp_path):
    root = image_folder(tmp_path / "d", per_class=6)
    base = {"name": "image_folder", "path": str(root), "validation_split": 0}
    streamed = load_data(_cfg(tmp_path, base).dataset, 7)
    expected = streamed.train.x.load()
    for cache in (None, "memory", str(tmp_path / "pixels")):
        cfg = _cfg(tmp_path, dict(base, cache=cache))
        b = load_data(cfg.dataset, 7)
        x, y = _epoch(make_dataset(b.train, 5))
        assert x.dtype == np.float32 and x.shape == (len(b.train), 16, 16, 3)
        np.testing.assert_array_equal(x, expected.astype(np.float32))
        np.testing.assert_array_equal(y, streamed.train.y)
    assert len(list((tmp_path / "pixels").glob("images-*.npy"))) == 1  # decoded once, reused


def test_in_memory_batches_run_without_the_tf_data_autotuner_and_file_decoding_keeps_it(tmp_path):
    """The autotuner, left on for a gather from memory, took a core from training for whole epochs
    (docs/speed.md); files decoded every epoch still need it to size their parallel decoding."""
    memory = Split(np.zeros((10, 4, 4, 1), np.uint8), np.arange(10) % 2)
    assert make_dataset(memory, 4).options().autotune.enabled is False
    root = image_folder(tmp_path / "d", per_class=6)
    dataset = {"name": "image_folder", "path": str(root), "validation_split": 0, "cache": "none"}
    streamed = load_data(_cfg(tmp_path, dataset).dataset, 7)
    assert make_dataset(streamed.train, 4).options().autotune.enabled is not False
    dataset["cache"] = "memory"
    cached = load_data(_cfg(tmp_path, dataset, name="m.yaml").dataset, 7)
    assert make_dataset(cached.train, 4).options().autotune.enabled is False


def test_shuffle_is_seeded_and_differs_every_epoch(tmp_path):
    split = Split(np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1), np.arange(40) % 2)
    ds = make_dataset(split, 8, shuffle=True, seed=3)
    first, second = _epoch(ds)[0].ravel(), _epoch(ds)[0].ravel()
    assert sorted(first) == list(range(40)) and not np.array_equal(first, second)
    again = _epoch(make_dataset(split, 8, shuffle=True, seed=3))[0].ravel()
    np.testing.assert_array_equal(first, again)


def test_text_and_table_splits_batch_with_their_dtypes():
    import tensorflow as tf

    texts = np.empty(3, dtype=object)
    texts[:] = ["a b", "c", "d e f"]
    x, y = next(iter(make_dataset(Split(texts, np.array([0, 1, 0])), 3)))
    assert x.dtype == tf.string and x.numpy().tolist() == [b"a b", b"c", b"d e f"]
    cats = np.empty(3, dtype=object)
    cats[:] = ["red", "blue", "red"]
    table = {"size": np.array([1.0, 2.0, 3.0], np.float32), "color": cats}
    batch = next(iter(make_inputs(Split(table, np.array([0, 1, 0])), 2)))
    assert batch["size"].dtype == tf.float32 and batch["color"].dtype == tf.string and len(batch["size"]) == 2


def _model_for(tmp_path, dataset: dict):
    from aimodel.models.factory import build_model

    cfg = _cfg(tmp_path, dataset)
    bundle = load_data(cfg.dataset, cfg.seed)
    return cfg, bundle, build_model(cfg, bundle)


def test_augmentation_runs_only_while_training_and_is_saved(tmp_path):
    import keras

    root = image_folder(tmp_path / "d", per_class=6)
    cfg, bundle, model = _model_for(tmp_path, {
        "name": "image_folder", "path": str(root), "validation_split": 0,
        "augment": {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "translation": 0.1, "contrast": 0.3},
    })
    names = [layer.name for layer in model.layers]
    assert names[1:7] == ["augment_flip", "augment_rotation", "augment_zoom", "augment_translation",
                          "augment_contrast", "rescale"]
    front = keras.Model(model.input, model.get_layer("rescale").output)
    x = bundle.train.x.load(range(8)).astype(np.float32)
    np.testing.assert_allclose(front(x, training=False).numpy(), x / 255.0, rtol=1e-6)
    assert not np.allclose(front(x, training=True).numpy(), x / 255.0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_standardize_uses_training_statistics_only(tmp_path):
    from aimodel.data.preprocessing import channel_stats

    root = image_folder(tmp_path / "d", per_class=8)
    cfg, bundle, model = _model_for(tmp_path, {"name": "image_folder", "path": str(root), "normalize": "standardize",
                                               "validation_split": 0})
    layer = model.get_layer("standardize")
    train = bundle.train.x.load().astype(np.float64)
    mean = np.ravel(layer.mean)
    np.testing.assert_allclose(mean, train.reshape(-1, 3).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(layer.variance), train.reshape(-1, 3).var(axis=0), rtol=1e-4)
    test_mean = bundle.test.x.load().reshape(-1, 3).mean(axis=0)
    assert not np.allclose(mean, test_mean, rtol=1e-6)
    assert np.allclose(channel_stats(bundle.train.x, 0)[0], mean)


def test_data_inspect_prints_counts_and_writes_grids(tmp_path):
    root = image_folder(tmp_path / "d", per_class=6)
    (root / "cat" / "bad.png").write_bytes(b"nope")
    cfg = write_config(tmp_path / "c.yaml", dict(TINY, dataset={
        "name": "image_folder", "path": str(root), "on_bad_file": "skip", "validation_split": 0.2,
        "augment": {"flip": "horizontal", "rotation": 0.1}}))
    out = CliRunner().invoke(main, ["data", "inspect", str(cfg), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["input_shape"] == [16, 16, 3] and summary["input_dtype"] == "uint8"
    assert {k: v["samples"] for k, v in summary["splits"].items()} == {"train": 11, "val": 3, "test": 4}
    per_class = summary["splits"]["test"]["per_class"]
    assert set(per_class) == {"cat", "dog", "emu"} and min(per_class.values()) >= 1
    assert summary["skipped_count"] == 1 and summary["skipped"][0]["file"] == "cat/bad.png"
    table = CliRunner().invoke(main, ["data", "inspect", str(cfg), "--grid", str(tmp_path / "g.png")])
    assert table.exit_code == 0, table.output
    for text in ("class balance", "skipped files", "cat/bad.png", "(16, 16, 3)", "written:"):
        assert text in table.output
    plain = np.asarray(Image.open(tmp_path / "g.png"))
    aug = CliRunner().invoke(main, ["data", "inspect", str(cfg), "--grid", str(tmp_path / "a.png"), "--augmented"])
    assert aug.exit_code == 0, aug.output
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == plain.shape
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), plain)


def test_data_inspect_errors_are_one_line(tmp_path):
    root = image_folder(tmp_path / "d", classes=("a",), per_class=3)
    cfg = write_config(tmp_path / "c.yaml", dict(TINY, dataset={"name": "image_folder", "path": str(root)}))
    out = CliRunner().invoke(main, ["data", "inspect", str(cfg)])
    assert out.exit_code == 1 and "a single class folder ('a')" in out.output and "Traceback" not in out.output
    no_aug = write_config(tmp_path / "n.yaml", dict(TINY))
    out = CliRunner().invoke(main, ["data", "inspect", str(no_aug), "--grid", str(tmp_path / "g.png"), "--augmented"])
    assert out.exit_code == 1 and "no dataset.augment settings" in out.output
