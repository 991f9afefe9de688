"""Real-world text: separator characters, file encodings, and checkpoints that must load back (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.errors import CheckpointError, ConfigError, DataError
from tests.conftest import TINY, write_config

#: Every character that Python's str.splitlines breaks on (the saved vocabulary is read back with it)
#: besides "\n", plus the other Unicode separators and a few invisible characters.
SEPARATORS = ["\x85", "\u2028", "\u2029", "\v", "\f", "\x1c", "\x1d", "\x1e", "\r", "\u00a0", "\u200b"]
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _standardize(texts):
    import tensorflow as tf

    from aimodel.models.layers import standardize_text

    eager = [t.decode() for t in standardize_text(tf.constant(texts)).numpy()]
    mapped = [t.decode() for t in tf.data.Dataset.from_tensor_slices(texts).map(standardize_text).as_numpy_iterator()]
    assert eager == mapped  # the same inside tf.data as eagerly
    return eager


@pytest.mark.parametrize("char", SEPARATORS, ids=[f"U+{ord(c):04X}" for c in SEPARATORS])
def test_standardize_turns_each_separator_into_a_space(char):
    assert _standardize([f"Seeing{char}the light", f"x{char}{char}y"]) == ["seeing the light", "x y"]


def test_standardize_drops_control_characters_and_punctuation_of_any_script():
    out = _standardize(["Caf\u00e9 \u00c9T\u00c9 don\u2019t \u201cquote\u201d soft\u00adhyphen \ufeffbom nul\x00l $5 <b> \U0001F600"])
    assert out == ["caf\u00e9 \u00e9t\u00e9 dont quote softhyphen bom null 5 b \U0001F600"]
    assert not any(c in LINE_BREAKS for c in out[0])


def _csv(path: Path, rows, encoding="utf-8") -> Path:
    import csv
    import io

    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _reviews():
    """Short reviews, each holding one of the separator characters, as real review data does."""
    good = ["good{}movie", "great{}acting loved it", "a good{}film", "wonderful{}great story"]
    bad = ["bad{}movie", "awful{}acting hated it", "a bad{}film", "boring{}bad story"]
    rows = []
    for i, char in enumerate(SEPARATORS * 2):
        rows.append([good[i % 4].format(char), "pos"])
        rows.append([bad[i % 4].format(char), "neg"])
    return rows


def _text_config(tmp_path: Path, dataset: dict, epochs: int = 1) -> Path:
    return write_config(tmp_path / "text.yaml", {
        "name": "text", "seed": 1,
        "dataset": {"name": "csv", "label": "label", "text_column": "text", "test_split": 0.25,
                    "validation_split": 0.2, "sequence_length": 6, "max_tokens": 200, **dataset},
        "model": {"architecture": "rnn", "cell": "GRU", "units": [4], "embedding_dim": 4},
        "training": {"epochs": epochs, "batch_size": 8, "steps_per_execution": 1},
    })


def test_text_with_every_separator_trains_saves_loads_and_predicts_the_same(tmp_path):
    from aimodel import load_config, train
    from aimodel.inference.checkpoint import load_model

    data = _csv(tmp_path / "reviews.csv", _reviews())
    result = train(load_config(_text_config(tmp_path, {"path": str(data)})), run_dir=tmp_path / "run")
    vocabulary = result.model.get_layer("vectorize").get_vocabulary()
    assert not any(c in LINE_BREAKS for token in vocabulary for c in token)

    loaded = load_model(tmp_path / "run" / "best.keras")  # safe mode
    assert loaded.get_layer("vectorize").get_vocabulary() == vocabulary
    probe = np.array([row[0] for row in _reviews()] + ["GOOD\u2028movie!", "bad\x85film"], dtype=object)
    assert np.array_equal(loaded.predict_on_batch(probe), result.model.predict_on_batch(probe))

    out = CliRunner().invoke(
        __import__("aimodel.cli", fromlist=["main"]).main,
        ["predict", "--text", "good\u2029movie", "--model", str(tmp_path / "run"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["predictions"][0]["label"] in ("pos", "neg")


# --- encodings -------------------------------------------------------------------------------


def _cp1252_rows():
    return [[f"Don\u2019t buy it \u2013 awful\u2026 caf\u00e9 number {i}", "neg"] if i % 2 else
            [f"Na\u00efve but lovely \u2014 \u201cgreat\u201d film {i}", "pos"] for i in range(12)]


def test_cp1252_csv_is_read_with_encoding_auto(tmp_path):
    from aimodel import load_config
    from aimodel.data import load_data

    data = _csv(tmp_path / "win.csv", _cp1252_rows(), encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.read_bytes().decode("utf-8")
    cfg = load_config(_text_config(tmp_path, {"path": str(data), "validation_split": 0.0}))
    assert cfg.dataset.encoding == "auto"  # the default
    bundle = load_data(cfg.dataset, cfg.seed)
    texts = set(bundle.train.x) | set(bundle.test.x)
    assert texts == {row[0] for row in _cp1252_rows()}
    assert bundle.spec.encoding == "auto"


def test_undecodable_bytes_name_file_and_line_unless_replaced(tmp_path):
    from aimodel import load_config
    from aimodel.data import load_data

    data = _csv(tmp_path / "win.csv", _cp1252_rows(), encoding="cp1252")
    cfg = load_config(_text_config(tmp_path, {"path": str(data), "encoding": "utf-8"}))
    with pytest.raises(DataError, match=r"win\.csv: line 2: byte\(s\) ef are not utf-8 text; set dataset\.encoding"):
        load_data(cfg.dataset, cfg.seed)
    cfg = load_config(_text_config(tmp_path, {"path": str(data), "encoding": "utf-8", "encoding_errors": "replace"}))
    texts = list(load_data(cfg.dataset, cfg.seed).train.x)
    assert any("\ufffd" in t for t in texts)
    cfg = load_config(_text_config(tmp_path, {"path": str(data), "encoding": "cp1252"}))
    assert "Don\u2019t" in " ".join(load_data(cfg.dataset, cfg.seed).train.x)
    with pytest.raises(ConfigError, match=r"dataset\.encoding: .*unknown encoding 'klingon'"):
        load_config(_text_config(tmp_path, {"path": str(data), "encoding": "klingon"}))


def test_detect_encoding_prefers_utf8_boms_then_cp1252_on_ties():
    from aimodel.data.files import decode_text, detect_encoding

    text = "Wow\u2026 \u00e9t\u00e9 na\u00efve"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(text.encode("utf-16")) == "utf-16"
    assert detect_encoding(text.encode("cp1252")) == "cp1252"  # charset-normalizer alone says cp1250 or utf_16_be
    russian = "Привет, как дела? Это очень хороший фильм, я смотрел его дважды."
    assert decode_text(russian.encode("cp1251"), Path("r.txt"), "auto") == russian
    assert decode_text("\ufeffhi".encode("utf-8"), Path("bom.txt"), "utf-8") == "hi"


def test_text_folder_in_cp1252_trains_and_predict_reads_files_the_same_way(tmp_path):
    from aimodel import load_config, train

    root = tmp_path / "reviews"
    for label, words in (("pos", "great lovely caf\u00e9 na\u00efve"), ("neg", "awful boring \u2026 bad")):
        (root / label).mkdir(parents=True)
        for i in range(6):
            (root / label / f"{i}.txt").write_bytes(f"{words} \u2013 {i}".encode("cp1252"))
    cfg = write_config(tmp_path / "folder.yaml", {
        "name": "folder", "seed": 1,
        "dataset": {"name": "text_folder", "path": str(root), "encoding": "cp1252", "validation_split": 0.0,
                    "sequence_length": 6},
        "model": {"architecture": "rnn", "cell": "GRU", "units": [4], "embedding_dim": 4},
        "training": {"epochs": 1, "batch_size": 4, "steps_per_execution": 1},
    })
    run = train(load_config(cfg), run_dir=tmp_path / "run").run_dir
    assert json.loads((run / "meta.json").read_text())["input"]["encoding"] == "cp1252"
    mine = tmp_path / "mine.txt"
    mine.write_bytes("lovely caf\u00e9".encode("cp1252"))
    from aimodel.cli import main

    out = CliRunner().invoke(main, ["predict", str(mine), "--model", str(run), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["predictions"][0].get("error") is None


def test_served_uploads_are_read_in_the_models_encoding():
    from aimodel.data.spec import InputSpec
    from aimodel.serving.inputs import FilePart, upload_items

    spec = InputSpec(kind="text", shape=(), class_names=["neg", "pos"], text_column="text", encoding="auto")
    text = upload_items(FilePart("review.txt", "caf\u00e9 \u2026".encode("cp1252")), "text", None, spec, 10**6)
    assert text[0].value == "caf\u00e9 \u2026" and text[0].error is None
    table = upload_items(FilePart("r.csv", "text\nna\u00efve\n".encode("cp1252")), "text", None, spec, 10**6)
    assert [i.value for i in table] == ["na\u00efve"]
    spec.encoding = "utf-8"
    bad = upload_items(FilePart("review.txt", "caf\u00e9".encode("cp1252")), "text", None, spec, 10**6)
    assert bad[0].error == "review.txt: line 1: byte(s) e9 are not utf-8 text"


def test_served_b64_text_instances_are_read_in_the_models_encoding():
    import base64

    from aimodel.data.spec import InputSpec
    from aimodel.inference.prepare import TextPreparer
    from aimodel.serving.inputs import RequestError, _instance_item, prepare_instances

    spec = InputSpec(kind="text", shape=(), class_names=["neg", "pos"], text_column="text", encoding="cp1252")
    b64 = {"b64": base64.b64encode("caf\u00e9 \u2026".encode("cp1252")).decode()}
    got = prepare_instances([b64, "plain"], "text", (), TextPreparer(spec, {}), 10**6)
    assert got.samples[0] == "caf\u00e9 \u2026" and got.samples[1] == "plain"
    utf8 = {"b64": base64.b64encode("caf\u00e9".encode("cp1252")).decode()}
    with pytest.raises(RequestError, match=r"instances\[0\]: the b64 bytes are not text in the model's encoding "
                                           r"\(utf-8\).*e9 are not utf-8"):
        _instance_item("instances[0]", utf8, "text", (), 10**6, ("utf-8", "strict"))


# --- checkpoints that do not load back -----------------------------------------------------


def _corrupting_save(monkeypatch, only_checkpoints: bool = False, keep: float = 1 / 3) -> list[str]:
    """Every model.save from now on writes a file that does not load (cut to ``keep`` of its size, as a
    failing disk or serializer would leave it); with ``only_checkpoints``, only files in a run's
    checkpoints/ folder (the checkpoint writer's shadow model then loads, and epochs are written in
    the background). Returns the names of the threads that wrote a damaged file."""
    import threading

    import keras

    original = keras.Model.save
    threads = []

    def save(self, filepath, *args, **kwargs):
        original(self, filepath, *args, **kwargs)
        if only_checkpoints and Path(filepath).parent.name != "checkpoints":
            return
        threads.append(threading.current_thread().name)
        size = Path(filepath).stat().st_size
        with open(filepath, "r+b") as f:
            f.truncate(int(size * keep))

    monkeypatch.setattr(keras.Model, "save", save)
    return threads


def test_unloadable_checkpoint_stops_training_and_keeps_the_previous_good_one(tmp_path, monkeypatch):
    from aimodel import load_config
    from aimodel.inference.checkpoint import load_model
    from aimodel.training.runner import resume, train

    cfg = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    run = train(load_config(cfg), run_dir=tmp_path / "run").run_dir
    good = (run / "best.keras").read_bytes()

    _corrupting_save(monkeypatch)
    with pytest.raises(CheckpointError, match=r"epoch-0002\.keras: the checkpoint of epoch 2 was not kept: "
                                              r"cannot load model.*last good checkpoint \(epoch 1\) stays"):
        resume(run, overrides=["training.epochs=2"])
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert (run / "best.keras").read_bytes() == good and (run / "last.keras").read_bytes() == good
    load_model(run / "last.keras")  # still loads in safe mode
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001.keras"]  # no leftovers
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"


def test_damaged_checkpoint_from_the_background_writer_keeps_the_previous_good_one(tmp_path, monkeypatch):
    """The shadow model loads (so the session's files are verified by structure), then a later epoch's
    file comes out damaged: it must not replace last.keras/best.keras, and training stops there."""
    from aimodel import load_config
    from aimodel.inference.checkpoint import load_model
    from aimodel.training.runner import resume, train

    cfg = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    run = train(load_config(cfg), run_dir=tmp_path / "run").run_dir
    good = (run / "best.keras").read_bytes()
    threads = _corrupting_save(monkeypatch, only_checkpoints=True, keep=0.98)  # its end is missing
    with pytest.raises(CheckpointError, match=r"epoch-0002\.keras: the checkpoint of epoch 2 was not kept: not a "
                                              r"complete \.keras archive .*last good checkpoint \(epoch 1\) stays"):
        resume(run, overrides=["training.epochs=3"])
    assert threads == ["aimodel-checkpoints"]  # written, and refused, by the background writer
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert (run / "best.keras").read_bytes() == good and (run / "last.keras").read_bytes() == good
    load_model(run / "best.keras")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001.keras"]
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"


def test_unloadable_first_checkpoint_fails_loudly_without_a_model(tmp_path, monkeypatch):
    from aimodel.cli import main

    cfg = write_config(tmp_path / "tiny.yaml", {**TINY, "training": {**TINY["training"], "epochs": 1}})
    threads = _corrupting_save(monkeypatch)  # the shadow too: epoch 1 is saved, and verified, on this thread
    out = CliRunner().invoke(main, ["train", str(cfg), "--run-dir", str(tmp_path / "run"), "-q"])
    assert out.exit_code == 1
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.output  # one line, no traceback
    assert "the checkpoint of epoch 1 was not kept" in lines[0] and "no earlier checkpoint" in lines[0]
    assert threads[-1] == "MainThread"
    assert not (tmp_path / "run" / "best.keras").exists()
    assert not any((tmp_path / "run" / "checkpoints").iterdir())
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_the_issues_separator_trap_is_caught_at_the_first_checkpoint(tmp_path, monkeypatch):
    """The issue's trap, rebuilt: Keras' own standardization keeps U+2028 inside a token; the saved
    vocabulary then reads back with an extra line, and every later token id shifts."""
    from aimodel import load_config, train
    from aimodel.models import layers

    monkeypatch.setattr(layers, "standardize_text", "lower_and_strip_punctuation")
    data = _csv(tmp_path / "reviews.csv", _reviews())
    with pytest.raises(CheckpointError, match=r"epoch 1 was not kept: cannot load model.*TextVectorization"):
        train(load_config(_text_config(tmp_path, {"path": str(data)})), run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "best.keras").exists()


def test_a_vocabulary_that_loads_but_shifted_is_caught(tmp_path):
    """When the split pieces are new words, the file even loads, with every later id shifted."""
    import keras
    from keras import layers

    from aimodel.training.checkpointing import verify_model_file

    vectorize = layers.TextVectorization(output_sequence_length=4)  # Keras' default standardization
    vectorize.adapt(np.array(["seeing\u2028clearly now", "now what"]))
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, vectorize(inputs))
    model.save(tmp_path / "m.keras")
    with pytest.raises(CheckpointError, match=r"m\.keras: loads, but the vocabulary .* reads back differently "
                                              r"\(6 tokens instead of 5\)"):
        verify_model_file(tmp_path / "m.keras", model)
