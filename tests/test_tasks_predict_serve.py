"""Predict and serve for task: regression and task: multilabel tables: values in the target's unit (one
target a number, several a mapping), label sets by the saved thresholds, in JSON, CSV, .tflite/.onnx
exports, REST /predict, TF Serving REST, KServe V2, gRPC and /metadata."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aimodel.cli import main
from tests.conftest import write_config

pytestmark = pytest.mark.serve

N = 150
LABELS = ["big", "low", "wide"]


def _features(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.normal(size=n), rng.choice(["x", "y", "z"], n)


def _write_regression(path: Path, n: int = N, seed: int = 0) -> Path:
    a, b, c = _features(n, seed)
    noise = np.random.default_rng(seed + 1).normal(size=n)
    price = 1000 + 200 * a - 100 * b + 10 * noise  # around 1000: a prediction must be of that order
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "price", "rate"])
        for i in range(n):
            w.writerow([f"{a[i]:.4f}", f"{b[i]:.4f}", c[i], f"{price[i]:.2f}", f"{0.01 * (1 + a[i]):.5f}"])
    return path


def _write_multilabel(path: Path, n: int = N, seed: int = 0) -> Path:
    a, b, _ = _features(n, seed)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "tags"])
        for i in range(n):
            tags = [t for t, on in zip(LABELS, (a[i] > 0, a[i] + b[i] < -1, b[i] > 0.3)) if on]
            w.writerow([f"{a[i]:.4f}", f"{b[i]:.4f}", "|".join(tags)])
    return path


def _train(tmp: Path, name: str, task: str, dataset: dict) -> Path:
    config = write_config(tmp / f"{name}.yaml", {
        "name": name, "seed": 1, "task": task,
        "dataset": {"name": "csv", "validation_split": 0.2, **dataset},
        "model": {"architecture": "mlp", "units": [8]},
        "training": {"epochs": 2, "batch_size": 16},
    })
    result = CliRunner().invoke(main, ["train", str(config), "--run-dir", str(tmp / name)])
    assert result.exit_code == 0, result.output
    return tmp / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three tiny runs: one regression target, two targets (different units), multilabel with '|'."""
    tmp = tmp_path_factory.mktemp("tasks_predict")
    reg_csv = _write_regression(tmp / "reg.csv")
    ml_csv = _write_multilabel(tmp / "ml.csv")
    return {
        "one": _train(tmp, "one", "regression", {"path": str(reg_csv), "label": "price",
                                                 "features": ["a", "b", "c"]}),
        "two": _train(tmp, "two", "regression", {"path": str(reg_csv), "label": ["price", "rate"],
                                                 "features": ["a", "b", "c"]}),
        "ml": _train(tmp, "ml", "multilabel", {"path": str(ml_csv), "label": "tags", "label_separator": "|"}),
    }


@pytest.fixture(scope="module")
def new_rows(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("tasks_new_rows")
    return {"reg": _write_regression(tmp / "reg_new.csv", 6, seed=7),
            "ml": _write_multilabel(tmp / "ml_new.csv", 6, seed=7)}


def _predict(csv_path: Path, model: Path, fmt: str):
    result = CliRunner().invoke(main, ["predict", str(csv_path), "--model", str(model), "--format", fmt])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if fmt == "json" else list(csv.DictReader(io.StringIO(result.output)))


def _direct(model: Path, csv_path: Path, columns: dict[str, str]) -> np.ndarray:
    """The saved model's own outputs for a CSV's rows (no aimodel preparation: the columns as arrays)."""
    from aimodel.inference.checkpoint import load_backend, resolve_checkpoint

    rows = list(csv.DictReader(csv_path.open()))
    batch = {c: np.array([r[c] for r in rows], dtype=object if kind == "str" else np.float32)
             for c, kind in columns.items()}
    return load_backend(resolve_checkpoint(model)).predict_outputs(batch)


REG_COLUMNS = {"a": "float", "b": "float", "c": "str"}
ML_COLUMNS = {"a": "float", "b": "float"}


def test_one_target_predicts_a_number_in_the_targets_unit_in_json_and_csv(runs, new_rows):
    got = _predict(new_rows["reg"], runs["one"], "json")
    assert got["task"] == "regression" and got["failed"] == 0
    values = [p["value"] for p in got["predictions"]]
    assert all(isinstance(v, float) for v in values) and not any("label" in p for p in got["predictions"])
    direct = _direct(runs["one"], new_rows["reg"], REG_COLUMNS)
    assert direct.shape == (6, 1)
    np.testing.assert_allclose(values, direct[:, 0], rtol=1e-6)
    assert 500 < np.mean(values) < 1500  # the target's unit (about 1000), not standardized (about 0)
    table = _predict(new_rows["reg"], runs["one"], "csv")
    assert list(table[0])[-2:] == ["prediction", "error"] and "price" in table[0]  # the file's cells are kept
    np.testing.assert_allclose([float(r["prediction"]) for r in table], values, rtol=1e-6)


def test_several_targets_predict_a_mapping_target_to_value(runs, new_rows):
    got = _predict(new_rows["reg"], runs["two"], "json")["predictions"]
    assert all(list(p["value"]) == ["price", "rate"] for p in got)
    direct = _direct(runs["two"], new_rows["reg"], REG_COLUMNS)
    np.testing.assert_allclose([[p["value"]["price"], p["value"]["rate"]] for p in got], direct, rtol=1e-6)
    prices, rates = direct[:, 0], direct[:, 1]
    assert 500 < prices.mean() < 1500 and abs(rates.mean()) < 0.1  # each target in its own unit
    table = _predict(new_rows["reg"], runs["two"], "csv")
    assert list(table[0])[-3:] == ["prediction_price", "prediction_rate", "error"]
    np.testing.assert_allclose([float(r["prediction_rate"]) for r in table], rates, rtol=1e-6)


def test_multilabel_predicts_the_labels_at_or_above_their_threshold(runs, new_rows):
    got = _predict(new_rows["ml"], runs["ml"], "json")
    assert got["task"] == "multilabel"
    direct = _direct(runs["ml"], new_rows["ml"], ML_COLUMNS)
    for p, row in zip(got["predictions"], direct):
        assert list(p["probabilities"]) == LABELS
        np.testing.assert_allclose(list(p["probabilities"].values()), row, atol=1e-6)
        assert p["labels"] == [n for n, prob in zip(LABELS, row) if prob >= 0.5]
    table = _predict(new_rows["ml"], runs["ml"], "csv")
    assert list(table[0])[-5:] == ["prediction"] + [f"probability_{n}" for n in LABELS] + ["error"]
    # the set is written as the training file wrote it (dataset.label_separator '|')
    assert [r["prediction"] for r in table] == ["|".join(p["labels"]) for p in got["predictions"]]


def test_saved_thresholds_decide_the_label_set(runs, new_rows, tmp_path):
    run = Path(shutil.copytree(runs["ml"], tmp_path / "ml"))
    meta = json.loads((run / "meta.json").read_text())
    meta["input"]["thresholds"] = [0.0, 1.0, 0.5]  # big always, low never, wide at 0.5
    (run / "meta.json").write_text(json.dumps(meta))
    got = _predict(new_rows["ml"], run, "json")["predictions"]
    for p in got:
        assert p["labels"] == ["big"] + (["wide"] if p["probabilities"]["wide"] >= 0.5 else [])
    before = _predict(new_rows["ml"], runs["ml"], "json")["predictions"]
    assert [p["labels"] for p in got] != [p["labels"] for p in before]


def test_an_output_width_that_does_not_match_meta_json_is_one_clear_line(runs, new_rows, tmp_path):
    run = Path(shutil.copytree(runs["two"], tmp_path / "two"))
    meta = json.loads((run / "meta.json").read_text())
    meta["input"]["class_names"] = ["price", "rate", "extra"]
    (run / "meta.json").write_text(json.dumps(meta))
    result = CliRunner().invoke(main, ["predict", str(new_rows["reg"]), "--model", str(run), "--json"])
    assert result.exit_code == 1
    assert "outputs 2 values but its meta.json names 3 targets" in result.output


def _export(run: Path, fmt: str) -> Path:
    """``run``'s best.keras as a float32 .tflite or .onnx with its .json, as ``aimodel export`` lays them out
    (converted directly: what is tested here is predict reading the file, not export's verification)."""
    import os

    from aimodel.export.convert import float_onnx, to_tflite
    from aimodel.export.graph import full_graph
    from aimodel.inference.checkpoint import load_model

    out = run / "exports"
    out.mkdir(exist_ok=True)
    graph = full_graph(load_model(run / "best.keras"))
    path = out / f"model.{fmt}"
    if fmt == "tflite":
        to_tflite(graph, "none", path)
    else:
        (out / "work").mkdir(exist_ok=True)
        float_onnx(graph, path, out / "work")
    side = dict(json.loads((run / "meta.json").read_text()),
                export={"format": fmt, "run": os.path.relpath(run, out), "inputs": graph.inputs})
    Path(f"{path}.json").write_text(json.dumps(side))
    return path


@pytest.mark.export
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_exports_predict_in_the_same_format(runs, new_rows, fmt, tmp_path):
    for name, rows in (("two", new_rows["reg"]), ("ml", new_rows["ml"])):
        run = Path(shutil.copytree(runs[name], tmp_path / name))
        want = _predict(rows, run, "json")["predictions"]
        got = _predict(rows, _export(run, fmt), "json")["predictions"]
        assert [set(p) for p in got] == [set(p) for p in want]
        if name == "two":
            np.testing.assert_allclose([list(p["value"].values()) for p in got],
                                       [list(p["value"].values()) for p in want], rtol=1e-4)
        else:
            np.testing.assert_allclose([list(p["probabilities"].values()) for p in got],
                                       [list(p["probabilities"].values()) for p in want], atol=1e-4)


# --- serve ----------------------------------------------------------------------------------------


def _client(run: Path, **settings):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    return TestClient(create_app(ServedModel(run, name="m"), ServeSettings(model=str(run), name="m", **settings)))


def _upload(client, csv_path: Path):
    return client.post("/predict", files={"f": (csv_path.name, csv_path.read_bytes(), "text/csv")})


def _instances(csv_path: Path, columns: dict[str, str]) -> list[dict]:
    return [{c: (r[c] if kind == "str" else float(r[c])) for c, kind in columns.items()}
            for r in csv.DictReader(csv_path.open())]


def _kserve_body(csv_path: Path, columns: dict[str, str]) -> dict:
    rows = list(csv.DictReader(csv_path.open()))
    return {"inputs": [{"name": c, "datatype": "BYTES" if kind == "str" else "FP32", "shape": [len(rows), 1],
                        "data": [r[c] if kind == "str" else float(r[c]) for r in rows]}
                       for c, kind in columns.items()]}


def test_serve_regression_rest_tf_serving_and_kserve(runs, new_rows):
    direct = _direct(runs["two"], new_rows["reg"], REG_COLUMNS)
    with _client(runs["two"], max_batch=4) as client:
        meta = client.get("/metadata").json()
        assert meta["task"] == "regression" and meta["outputs"] == meta["targets"] == ["price", "rate"]
        assert "classes" not in meta and "thresholds" not in meta
        body = _upload(client, new_rows["reg"]).json()
        assert body["task"] == "regression" and body["failed"] == 0
        np.testing.assert_allclose([list(p["value"].values()) for p in body["predictions"]], direct, rtol=1e-6)
        # TF Serving REST: the model's output rows, one value per target in the target's unit
        tf_rest = client.post("/v1/models/m:predict", json={"instances": _instances(new_rows["reg"], REG_COLUMNS)})
        assert tf_rest.status_code == 200, tf_rest.text
        np.testing.assert_allclose(tf_rest.json()["predictions"], direct, rtol=1e-5)
        signature = client.get("/v1/models/m/metadata").json()["metadata"]["signature_def"]["signature_def"]
        dims = signature["serving_default"]["outputs"]["output_0"]["tensor_shape"]["dim"]
        assert [d["size"] for d in dims] == ["-1", "2"]
        v2 = client.post("/v2/models/m/infer", json=_kserve_body(new_rows["reg"], REG_COLUMNS)).json()
        assert v2["outputs"][0]["shape"] == [6, 2]
        np.testing.assert_allclose(np.reshape(v2["outputs"][0]["data"], (6, 2)), direct, rtol=1e-5)


def test_serve_one_target_tf_serving_rows_hold_one_value(runs, new_rows):
    with _client(runs["one"]) as client:
        got = client.post("/v1/models/m:predict", json={"instances": _instances(new_rows["reg"], REG_COLUMNS)[:2]})
        predictions = got.json()["predictions"]
        assert [len(p) for p in predictions] == [1, 1] and 500 < predictions[0][0] < 1500
        page = client.post("/predict", data={"top_k": "3"},
                           files={"f": ("r.csv", new_rows["reg"].read_bytes(), "text/csv")}).json()
        assert isinstance(page["predictions"][0]["value"], float)


def test_serve_multilabel_label_sets_and_probabilities(runs, new_rows, tmp_path):
    run = Path(shutil.copytree(runs["ml"], tmp_path / "ml"))
    meta = json.loads((run / "meta.json").read_text())
    meta["input"]["thresholds"] = [0.0, 1.0, 0.5]
    (run / "meta.json").write_text(json.dumps(meta))
    direct = _direct(run, new_rows["ml"], ML_COLUMNS)
    with _client(run, max_batch=2) as client:
        meta = client.get("/metadata").json()
        assert meta["task"] == "multilabel" and meta["labels"] == LABELS
        assert meta["thresholds"] == {"big": 0.0, "low": 1.0, "wide": 0.5}
        body = _upload(client, new_rows["ml"]).json()
        for p, row in zip(body["predictions"], direct):
            assert p["labels"] == ["big"] + (["wide"] if row[2] >= 0.5 else [])
            np.testing.assert_allclose(list(p["probabilities"].values()), row, atol=1e-6)
        tf_rest = client.post("/v1/models/m:predict", json={"instances": _instances(new_rows["ml"], ML_COLUMNS)})
        np.testing.assert_allclose(tf_rest.json()["predictions"], direct, atol=1e-6)
        v2 = client.post("/v2/models/m/infer", json=_kserve_body(new_rows["ml"], ML_COLUMNS)).json()
        np.testing.assert_allclose(np.reshape(v2["outputs"][0]["data"], (6, 3)), direct, atol=1e-6)


def test_grpc_predict_returns_the_values(runs, new_rows):
    grpc = pytest.importorskip("grpc")
    pytest.importorskip("tensorflow_serving.apis")
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tests._serve_support import free_port

    rows = list(csv.DictReader(new_rows["reg"].open()))
    direct = _direct(runs["one"], new_rows["reg"], REG_COLUMNS)
    with _client(runs["one"], grpc_port=free_port()) as client:
        channel = grpc.insecure_channel(f"127.0.0.1:{client.app.state.server.grpc_port}")
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        for c, kind in REG_COLUMNS.items():
            values = np.array([[r[c].encode() if kind == "str" else float(r[c])] for r in rows],
                              dtype=object if kind == "str" else np.float32)
            request.inputs[c].CopyFrom(tf.make_tensor_proto(values))
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        channel.close()
    got = tf.make_ndarray(reply.outputs["output_0"])
    assert got.shape == (6, 1)
    np.testing.assert_allclose(got, direct, rtol=1e-5)
