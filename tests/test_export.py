"""aimodel export: every format × quantization verified, the inference-only graph, exported files in
evaluate and predict (without TensorFlow for .tflite/.onnx), text and tabular models, and the refusals."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests._models_support import sentences
from tests.conftest import ROOT, TINY, write_config

pytestmark = pytest.mark.export

IRIS = ROOT / "examples" / "iris.csv"
DIGIT = ROOT / "examples" / "digit_3.png"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _train(tmp: Path, name: str, cfg: dict) -> Path:
    config = write_config(tmp / f"{name}.yaml", cfg)
    result = _invoke("train", config, "--run-dir", tmp / name, "--quiet")
    assert result.exit_code == 0, result.output
    return tmp / name


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    """Digits with augmentation, dropout and batch norm: layers that behave differently in training."""
    tmp = tmp_path_factory.mktemp("export_image")
    return _train(tmp, "run", dict(TINY, dataset={
        **TINY["dataset"], "augment": {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "contrast": 0.3}},
        model={"architecture": "cnn", "filters": [8], "dense": [16], "dropout": 0.5, "batch_norm": True},
        training={"epochs": 3, "batch_size": 32, "learning_rate": 0.01}))


@pytest.fixture(scope="module")
def image_exports(image_run) -> dict:
    """Every format × quantization of image_run, exported once for the tests below."""
    from aimodel.export import export_run

    return export_run(image_run, formats=["all"], quantize=["all"], calibration=64)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    """A GRU text classifier from a CSV column (TextVectorization inside the model)."""
    tmp = tmp_path_factory.mktemp("export_text")
    texts, labels = sentences(120, seed=2)
    with open(tmp / "reviews.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        writer.writerows([t, "positive" if y else "negative"] for t, y in zip(texts, labels))
    return _train(tmp, "run", {
        "name": "text", "seed": 1,
        "dataset": {"name": "csv", "path": str(tmp / "reviews.csv"), "label": "sentiment", "text_column": "review",
                    "sequence_length": 12, "max_tokens": 60, "test_split": 0.25},
        "model": {"architecture": "rnn", "cell": "GRU", "units": [8], "embedding_dim": 8},
        "training": {"epochs": 3, "batch_size": 16, "learning_rate": 0.02}})


# --- every format and quantization ------------------------------------------------------------------


def test_every_format_and_quantization_is_written_verified_and_described(image_run, image_exports):
    out = image_run / "exports"
    rows = {r["file"]: r for r in image_exports["exports"]}
    expected = ["model.tflite", "model_float16.tflite", "model_dynamic.tflite", "model_int8.tflite", "model.onnx",
                "model_float16.onnx", "model_dynamic.onnx", "model_int8.onnx", "model_saved_model"]
    assert sorted(rows) == sorted(expected)
    assert image_exports["failed"] == []
    for name, r in rows.items():
        assert (out / name).exists() and (out / f"{name}.json").is_file(), name
        assert r["status"] == "ok" and abs(r["accuracy_diff_points"]) <= 1.0, r
        assert r["latency_ms"] > 0 and r["throughput_per_s"] > 0
        side = json.loads((out / f"{name}.json").read_text())
        assert side["input"]["class_names"] == [str(i) for i in range(10)]
        assert side["export"]["format"] == r["format"] and side["export"]["quantization"] == r["quantization"]
    for fmt in ("tflite", "onnx"):  # float files match best.keras; quantized ones are smaller
        assert rows[f"model.{fmt}"]["max_prob_diff"] < 1e-4
        assert rows[f"model.{fmt}"]["agreement"] == 1.0
        half = rows[f"model_float16.{fmt}"]
        assert half["bytes"] < rows[f"model.{fmt}"]["bytes"]
        assert half["size_ratio"] == round(half["bytes"] / rows[f"model.{fmt}"]["bytes"], 4)
    # (ONNX's int8 adds quantize/dequantize nodes: smaller only once the weights outweigh them, not here)
    assert rows["model_int8.tflite"]["bytes"] < rows["model_float16.tflite"]["bytes"]
    assert rows["model_saved_model"]["max_prob_diff"] < 1e-5
    assert image_exports["calibration"]["samples"] == 64
    assert "training split" in image_exports["calibration"]["from"]
    report = json.loads((out / "report.json").read_text())
    assert report["keras"]["file"] == "best.keras" and len(report["exports"]) == 9
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_the_input_contract_is_inside_every_onnx_and_tflite_file(image_run, image_exports):
    """A file copied away without its .json still says 0..255 NHWC: ONNX metadata_props, the TFLite metadata table."""
    import onnx
    import onnxruntime as ort

    from aimodel.data.spec import IMAGE_VALUE_RANGE
    from aimodel.export.metadata import CONTRACT_KEY, read_contract

    out = image_run / "exports"
    for fmt, names in {"onnx": ["model.onnx", "model_float16.onnx", "model_dynamic.onnx", "model_int8.onnx"],
                       "tflite": ["model.tflite", "model_float16.tflite", "model_dynamic.tflite",
                                  "model_int8.tflite"]}.items():
        for name in names:
            side = json.loads((out / f"{name}.json").read_text())["export"]["value_contract"]
            assert side["range"] == list(IMAGE_VALUE_RANGE) and side["layout"] == "NHWC"
            assert read_contract(fmt, out / name) == side, name
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(props[CONTRACT_KEY])["range"] == [0.0, 255.0]
    session = ort.InferenceSession(str(out / "model_int8.onnx"), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map[CONTRACT_KEY])["layout"] == "NHWC"
    assert read_contract("saved_model", out / "model_saved_model") is None  # its signature is the contract


def test_a_tflite_file_with_the_contract_runs_in_litert_with_identical_outputs(tmp_path):
    """Re-packing the flatbuffer keeps every weight (16-byte aligned) and the converter's own metadata."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from aimodel.compat import tflite_schema
    from aimodel.export.metadata import CONTRACT_KEY, read_contract, write_contract

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    plain = tmp_path / "plain.tflite"
    model.export(str(plain), format="litert", verbose=False)
    tagged = tmp_path / "tagged.tflite"
    shutil.copyfile(plain, tagged)
    contract = {"range": [0.0, 255.0], "layout": "NHWC"}
    assert write_contract("tflite", tagged, contract)
    assert read_contract("tflite", tagged) == contract and read_contract("tflite", plain) is None

    def names_and_run(path):
        schema = tflite_schema()
        root = schema.Model.GetRootAs(bytearray(path.read_bytes()), 0)
        names = [root.Metadata(i).Name().decode() for i in range(root.MetadataLength())]
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        feed = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 1)).astype(np.float32)
        interp.set_tensor(interp.get_input_details()[0]["index"], feed)
        interp.invoke()
        return names, interp.get_tensor(interp.get_output_details()[0]["index"])

    before, want = names_and_run(plain)
    after, got = names_and_run(tagged)
    assert after == before + [CONTRACT_KEY]
    np.testing.assert_array_equal(got, want)
    raw = bytearray(tagged.read_bytes())
    start = np.frombuffer(raw, np.uint8).ctypes.data
    root = tflite_schema().Model.GetRootAs(raw, 0)
    for i in range(root.BuffersLength()):  # constant tensors stay where TFLite's kernels expect them
        buf = root.Buffers(i)
        if buf.DataLength():
            assert (buf.DataAsNumpy().ctypes.data - start) % 16 == 0, i


def test_exports_run_the_inference_graph_augmentation_and_dropout_off(image_run, image_exports):
    """Same outputs on repeated calls, equal to model(x, training=False); training=True would differ."""
    from aimodel.evaluation.sources import load_eval_data
    from aimodel.inference.checkpoint import load_backend, load_model, resolve_checkpoint

    model = load_model(image_run / "best.keras")
    ckpt = resolve_checkpoint(image_run)
    x = np.asarray(load_eval_data(ckpt, ckpt.spec, "test").x[:16], np.float32)
    inference = model(x, training=False).numpy()
    assert np.abs(model(x, training=True).numpy() - inference).max() > 1e-3  # the layers are live in training
    for name in ("model.tflite", "model.onnx", "model_saved_model"):
        backend = load_backend(resolve_checkpoint(image_run / "exports" / name))
        first, second = backend.predict_proba(x), backend.predict_proba(x)
        assert np.array_equal(first, second), name
        assert np.abs(first - inference).max() < 1e-4, name


# --- evaluate and predict take exported files --------------------------------------------------------


def test_evaluate_and_predict_take_each_exported_kind(image_run, image_exports):
    keras_label = json.loads(_invoke("predict", DIGIT, "--model", image_run, "--json").output)
    rows = {r["file"]: r for r in image_exports["exports"]}
    for name in ("model_int8.tflite", "model_dynamic.onnx", "model_saved_model"):
        path = image_run / "exports" / name
        ev = _invoke("evaluate", path, "--json")
        assert ev.exit_code == 0, ev.output
        report = json.loads(ev.output)
        assert report["accuracy"] == pytest.approx(rows[name]["accuracy"], abs=1e-6)
        assert (image_run / "exports" / f"evaluation-{name}" / "evaluation.json").is_file()
        pred = _invoke("predict", DIGIT, "--model", path, "--json")
        assert pred.exit_code == 0, pred.output
        got = json.loads(pred.output)["predictions"][0]
        assert got["label"] == keras_label["predictions"][0]["label"]
    assert not (image_run / "evaluation.json").exists()  # the run's own evaluation is not overwritten


@pytest.mark.subprocess
def test_predict_from_tflite_and_onnx_never_imports_tensorflow(image_run, image_exports, tmp_path):
    """A real process: the CLI predicts from both files and TensorFlow and Keras stay unimported."""
    script = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from aimodel.cli import main\n"
        "labels = []\n"
        "for f in sys.argv[2:]:\n"
        "    r = CliRunner().invoke(main, ['predict', sys.argv[1], '--model', f, '--json'])\n"
        "    assert r.exit_code == 0, r.output\n"
        "    labels.append(json.loads(r.output)['predictions'][0]['label'])\n"
        "print(json.dumps({'labels': labels, 'tensorflow': 'tensorflow' in sys.modules, "
        "'keras': 'keras' in sys.modules}))\n")
    files = [image_run / "exports" / "model_int8.tflite", image_run / "exports" / "model.onnx"]
    done = subprocess.run([sys.executable, "-c", script, str(DIGIT), *map(str, files)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"labels": result["labels"], "tensorflow": False, "keras": False}
    assert len(result["labels"]) == 2


def test_an_export_copied_away_with_its_json_still_predicts(image_run, image_exports, tmp_path):
    for name in ("model_float16.tflite", "model_int8.onnx"):
        shutil.copy(image_run / "exports" / name, tmp_path / name)
        shutil.copy(image_run / "exports" / f"{name}.json", tmp_path / f"{name}.json")
        result = _invoke("predict", DIGIT, "--model", tmp_path / name, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["predictions"][0]["label"] in [str(i) for i in range(10)]
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(image_run / "exports" / "model.tflite", alone / "model.tflite")
    _one_line_error(_invoke("predict", DIGIT, "--model", alone / "model.tflite"), "no <file>.json beside it")


# --- text and tabular models -------------------------------------------------------------------------


def test_text_model_exports_with_the_vocabulary_applied_on_the_host(text_run):
    result = _invoke("export", text_run, "--format", "tflite,onnx,saved_model", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {r["file"]: r for r in report["exports"]}
    assert rows["model.tflite"]["max_prob_diff"] < 1e-4 and rows["model.onnx"]["max_prob_diff"] < 1e-4
    assert any("vocabulary is applied on the host" in n for n in rows["model.tflite"]["notes"])
    texts = ["A superb, lovely film!", "Boring and dreadful...", "the plot"]
    args = [a for t in texts for a in ("--text", t)]
    want = json.loads(_invoke("predict", *args, "--model", text_run, "--json").output)["predictions"]
    for name in ("model.tflite", "model.onnx", "model_saved_model"):
        got = _invoke("predict", *args, "--model", text_run / "exports" / name, "--json")
        assert got.exit_code == 0, got.output
        for g, w in zip(json.loads(got.output)["predictions"], want):
            assert g["label"] == w["label"] and g["confidence"] == pytest.approx(w["confidence"], abs=1e-4)


def test_the_host_tokenizer_matches_text_vectorization():
    from keras import layers

    from aimodel.inference.tokenize import Tokenizer

    texts = ["Hello, World!! great-film", "ÉCOLE école", "a\u00a0b c\x1cd e\u2028f", "  tabs\tand\nlines\r\x0bend ",
             "", "...", "don't STOP", "x y z w v u t s r q p o n m l k j"]
    from aimodel.models.layers import standardize_text

    texts += ["ÜBER\x85straße İstanbul", "tab\u2029para\u00adsoft\ufeffbom «quoted» ¿qué? 1+1=2", "\x00nul\x7fdel"]
    for standardize in ("lower_and_strip_punctuation", "lower", "strip_punctuation", None, standardize_text):
        layer = layers.TextVectorization(max_tokens=60, output_sequence_length=7, standardize=standardize)
        layer.adapt(np.array(texts))
        tokenizer = Tokenizer([str(t) for t in layer.get_vocabulary()], 7, standardize)
        assert np.array_equal(tokenizer.ids(texts), layer(np.array(texts)).numpy()), standardize


def test_tabular_model_exports_to_tflite_and_onnx(tmp_path):
    run = _train(tmp_path, "iris", {
        "name": "iris", "seed": 1,
        "dataset": {"name": "csv", "path": str(IRIS), "label": "species", "test_split": 0.2},
        "model": {"architecture": "mlp", "units": [8]}, "training": {"epochs": 3, "batch_size": 16}})
    result = _invoke("export", run, "--format", "tflite,onnx", "--quantize", "none,int8", "--json")
    assert result.exit_code == 0, result.output
    assert all(r["status"] == "ok" for r in json.loads(result.output)["exports"])
    want = json.loads(_invoke("predict", IRIS, "--model", run, "--json").output)["predictions"]
    for name in ("model.tflite", "model.onnx"):
        got = json.loads(_invoke("predict", IRIS, "--model", run / "exports" / name, "--json").output)
        assert [p["label"] for p in got["predictions"]] == [p["label"] for p in want]


# --- refusals: one line, exit 1, nothing written -----------------------------------------------------


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message, message


def test_bad_runs_and_options_are_refused(image_run, image_exports, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_invoke("export", empty), "not a run directory")
    _one_line_error(_invoke("export", tmp_path / "missing"), "no such run directory")
    no_model = tmp_path / "no_model"
    no_model.mkdir()
    shutil.copy(image_run / "meta.json", no_model)
    _one_line_error(_invoke("export", no_model), "no best.keras")
    _one_line_error(_invoke("export", image_run, "--format", "tflte"), "did you mean 'tflite'")
    _one_line_error(_invoke("export", image_run, "--quantize", "int4"), "unknown quantize 'int4'")
    _one_line_error(_invoke("export", image_run, "--format", "saved_model", "--quantize", "int8"),
                    "saved_model", "not supported")


def test_an_existing_file_is_kept_unless_forced(image_run, image_exports, tmp_path):
    target = image_run / "exports" / "model.tflite"
    before, mtime = target.read_bytes(), target.stat().st_mtime_ns
    again = _invoke("export", image_run)  # made from best.keras as it is: said, not redone
    assert again.exit_code == 0, again.output
    assert "model.tflite: up to date with the run's model" in again.output and "--force" in again.output
    assert target.read_bytes() == before and target.stat().st_mtime_ns == mtime
    out = tmp_path / "forced"
    assert _invoke("export", image_run, "--out", out).exit_code == 0
    (out / "model.tflite").write_bytes(b"old")
    assert _invoke("export", image_run, "--out", out, "--force").exit_code == 0
    assert (out / "model.tflite").read_bytes() == before  # the same model converts to the same bytes


def test_int8_of_a_recurrent_model_is_refused_and_nothing_is_written(text_run, tmp_path):
    out = tmp_path / "out"
    result = _invoke("export", text_run, "--format", "tflite", "--quantize", "none,int8", "--out", out)
    _one_line_error(result, "int8", "recurrent layers", "--quantize dynamic")
    assert not out.exists() or not any(out.iterdir())


def test_a_corrupt_or_misnamed_export_gives_one_line(image_run, image_exports, tmp_path):
    for name in ("model.tflite", "model.onnx"):
        bad = tmp_path / name
        bad.write_bytes((image_run / "exports" / name).read_bytes()[:500])
        shutil.copy(image_run / "exports" / f"{name}.json", tmp_path / f"{name}.json")
        _one_line_error(_invoke("predict", DIGIT, "--model", bad), f"{bad}: not a usable")
    damaged = tmp_path / "damaged.tflite"
    shutil.copy(image_run / "exports" / "model.tflite", damaged)
    (tmp_path / "damaged.tflite.json").write_text(json.dumps({"input": {"kind": "image"}}))
    _one_line_error(_invoke("predict", DIGIT, "--model", damaged), "damaged.tflite.json: damaged description")
    bad_sm = tmp_path / "model_saved_model"
    bad_sm.mkdir()
    (bad_sm / "saved_model.pb").write_bytes(b"nonsense")
    _one_line_error(_invoke("predict", DIGIT, "--model", bad_sm), "not a usable SavedModel")


def test_a_missing_runtime_names_its_package(image_run, image_exports, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    _one_line_error(_invoke("predict", DIGIT, "--model", image_run / "exports" / "model.tflite"),
                    "needs the ai-edge-litert package", "aimodel[export]")


def test_an_export_below_the_tolerance_fails_with_exit_1(image_run, image_exports, tmp_path, monkeypatch):
    from aimodel.export import verify

    real = verify.measure

    def worse(backend, test):  # the export gets every answer shifted by one class
        m = real(backend, test)
        if type(backend).__name__ != "KerasBackend":
            m.probs = np.roll(m.probs, 1, axis=1)
        return m

    monkeypatch.setattr(verify, "measure", worse)
    result = _invoke("export", image_run, "--format", "onnx", "--out", tmp_path / "o", "--tolerance", "0.5")
    _one_line_error(result, "model.onnx: accuracy more than 0.5 points below best.keras")
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["exports"][0]["status"] == "failed"


# --- staleness and storage errors (issue 30, items 10 and 11) -----------------------------------------


def _own_run(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared trained run that a test may change."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run


def _resume_improved(run: Path) -> None:
    """What `train --resume` leaves: best.keras rewritten with other weights."""
    from aimodel.inference.checkpoint import load_model

    model = load_model(run / "best.keras")
    model.set_weights([w * 0.5 for w in model.get_weights()])
    model.save(run / "best.keras")


def test_an_export_says_when_the_runs_best_keras_changed_since(trained_run, tmp_path):
    from aimodel.serving.model import ServedModel

    run = _own_run(trained_run, tmp_path)
    assert _invoke("export", run).exit_code == 0
    tflite = run / "exports" / "model.tflite"
    side = json.loads((run / "exports" / "model.tflite.json").read_text())["export"]
    assert side["source"] == "best.keras" and len(side["source_sha256"]) == 64
    fresh = _invoke("predict", DIGIT, "--model", tflite)
    assert fresh.exit_code == 0 and "stale" not in fresh.output
    (run / "best.keras").touch()  # a newer mtime, the same bytes: still up to date
    assert "stale" not in _invoke("predict", DIGIT, "--model", tflite).output

    _resume_improved(run)
    pred = _invoke("predict", DIGIT, "--model", tflite, "--json")
    assert pred.exit_code == 0
    warning = [ln for ln in pred.output.splitlines() if "stale" in ln]
    assert len(warning) == 1 and str(tflite) in warning[0] and "aimodel export" in warning[0] \
        and "--force" in warning[0]
    ev = _invoke("evaluate", tflite)
    assert ev.exit_code == 0 and f"warning: {tflite} is stale" in ev.output
    assert "model.tflite is stale" in _invoke("runs", "list", run).output
    listed = json.loads(_invoke("runs", "list", run, "--json").stdout)
    assert len(listed[0]["stale_exports"]) == 1
    assert "model.tflite is stale" in ServedModel(tflite).describe()["stale"]
    assert "stale" not in ServedModel(run).describe()  # best.keras itself is never stale

    _one_line_error(_invoke("export", run), "model.tflite", "exists and is stale", "--force")
    assert _invoke("export", run, "--force").exit_code == 0
    assert "stale" not in _invoke("predict", DIGIT, "--model", tflite).output
    assert not _invoke("runs", "list", run, "--json").stdout.count("is stale")


def test_an_unwritable_out_folder_fails_before_any_model_loads(trained_run, tmp_path, monkeypatch):
    import errno
    import os
    import tempfile

    from aimodel.inference import checkpoint

    def no_loading(self, path):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(checkpoint.KerasBackend, "__init__", no_loading)
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        (read_only / "probe").write_bytes(b"")
        # root ignores the mode bits: make the folder refuse files the way a read-only one does
        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == read_only:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(Path(dir) / ".x"))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        (read_only / "probe").unlink()
    except PermissionError:
        pass
    for out in (read_only, read_only / "exports"):  # the folder itself, or one to create inside it
        result = _invoke("export", _own_run(trained_run, tmp_path / f"copy_{out.name}"), "--out", out)
        _one_line_error(result, f"{out}: cannot write: permission denied", "--out DIR")
        assert "--resume" not in result.output and "cannot convert" not in result.output
    read_only.chmod(0o700)


def test_a_full_disk_while_converting_is_a_storage_error_naming_the_path(trained_run, tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("aimodel.export.convert.write_saved_model", full)  # the SavedModel a conversion reads
    out = tmp_path / "out"
    result = _invoke("export", _own_run(trained_run, tmp_path), "--out", out)
    _one_line_error(result, f"{out}/.export-", "model.tflite: cannot write: no space left on the device",
                    "run aimodel export again")
    assert "cannot convert" not in result.output and "--resume" not in result.output
    assert not [p for p in out.iterdir() if p.name != "report.json"]  # the staging folder is gone


# --- pieces ------------------------------------------------------------------------------------------


def test_plan_refuses_named_combinations_and_notes_those_all_brings():
    from aimodel.errors import ExportError
    from aimodel.export.formats import plan

    targets, notes = plan(["all"], ["int8"])
    assert [t.format for t in targets] == ["tflite", "onnx"] and notes == []
    with pytest.raises(ExportError, match="not supported"):
        plan(["saved_model"], ["float16"])
    targets, notes = plan(["tflite"], ["all"], {"tflite:int8": "no int8 here"})
    assert [t.quantization for t in targets] == ["none", "float16", "dynamic"] and notes == ["no int8 here"]
    with pytest.raises(ExportError, match="no int8 here"):
        plan(["tflite"], ["int8"], {"tflite:int8": "no int8 here"})


def test_converter_failures_become_one_line():
    from aimodel.export.convert import failure_reason

    flex = "noise\nFlex ops: FlexStringSplitV2, FlexStaticRegexReplace\nDetails: ..."
    assert failure_reason(RuntimeError("x"), flex).endswith("StringSplitV2, StaticRegexReplace")
    onnx = "ERROR:tf2onnx.tfonnx:Unsupported ops: Counter({'Erfc': 2, 'StringSplitV2': 1})"
    assert failure_reason(RuntimeError("x"), onnx) == "operations tf2onnx cannot convert to ONNX: Erfc, StringSplitV2"
    assert failure_reason(ValueError("first\nthe real reason\n"), "") == "the real reason"
