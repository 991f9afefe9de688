"""TF Serving REST in full (signature_def, named inputs, versions/labels, methods) and the SavedModel layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aimodel.export.run import export_run

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def saved_model(trained_run, tmp_path_factory) -> Path:
    """trained_run's SavedModel export (in a copy of the run, so the shared run stays as it is)."""
    run = tmp_path_factory.mktemp("sm") / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("exports"))
    export_run(run, formats=["saved_model"], quantize=["none"])
    return run / "exports" / "model_saved_model"


def test_the_saved_model_export_has_tf_servings_version_folder(saved_model, trained_run):
    import tensorflow as tf

    from aimodel.inference.predict import Predictor

    assert (saved_model / "1" / "saved_model.pb").is_file()
    assert not (saved_model / "saved_model.pb").exists()
    loaded = tf.saved_model.load(str(saved_model / "1"))  # what --model_base_path=<base> serves as version 1
    fn = loaded.signatures["serving_default"]
    (key, spec), = fn.structured_input_signature[1].items()
    assert spec.shape.as_list() == [None, 8, 8, 1]
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    got = next(iter(fn(**{key: tf.constant(pixels)}).values())).numpy()
    want = Predictor(trained_run).probabilities(list(pixels))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_aimodel_reads_the_base_and_the_version_folder(saved_model, trained_run):
    from aimodel.inference.predict import Predictor

    pixels = list(np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 1)).astype(np.float32))
    want = Predictor(trained_run).probabilities(pixels)
    for path in (saved_model, saved_model / "1"):
        predictor = Predictor(path)
        assert predictor.checkpoint.format == "saved_model"
        assert predictor.spec.class_names == [str(i) for i in range(10)]  # the .json beside the base folder
        np.testing.assert_allclose(predictor.probabilities(pixels), want, atol=1e-5)


# --- TF Serving REST, driven with bodies from the published reference (api_rest.md) ---------------


def _client(run, **settings):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    model = ServedModel(run, name="m")
    return TestClient(create_app(model, ServeSettings(model=str(run), name="m", **settings)))


@pytest.fixture(scope="module")
def image(trained_run):
    with _client(trained_run) as c:
        yield c


@pytest.fixture(scope="module")
def text(text_run):
    with _client(text_run) as c:
        yield c


@pytest.fixture(scope="module")
def table(tabular_run):
    with _client(tabular_run) as c:
        yield c


def _post(client, path, body):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def _pixels(n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 8, 8, 1)).round(1).tolist()


def test_metadata_has_a_tf_serving_signature_def_and_the_value_range(image, text, table):
    meta = image.get("/v1/models/m/metadata").json()
    assert meta["model_spec"] == {"name": "m", "signature_name": "", "version": meta["model_spec"]["version"]}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    (name, tensor), = sig["inputs"].items()
    assert tensor["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in tensor["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    assert [d["size"] for d in sig["outputs"]["output_0"]["tensor_shape"]["dim"]] == ["-1", "10"]
    assert meta["metadata"]["input_contract"]["range"] == [0.0, 255.0]
    assert meta["metadata"]["input_contract"]["layout"] == "NHWC"
    assert image.get("/metadata").json()["input_contract"]["range"] == [0.0, 255.0]
    text_sig = text.get("/v1/models/m/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert text_sig["serving_default"]["inputs"]["text"]["dtype"] == "DT_STRING"
    assert "input_contract" not in text.get("/metadata").json()
    table_sig = table.get("/v1/models/m/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert {k: v["dtype"] for k, v in table_sig["serving_default"]["inputs"].items()} == \
        {"size": "DT_FLOAT", "colour": "DT_STRING"}


def test_named_inputs_in_row_and_columnar_form(image, text, table):
    sig = image.get("/v1/models/m/metadata").json()["metadata"]["signature_def"]["signature_def"]
    input_name = next(iter(sig["serving_default"]["inputs"]))
    pixels = _pixels()
    want = _post(image, "/v1/models/m:predict", {"instances": pixels}).json()["predictions"]
    for name in (input_name, "image"):
        rows = _post(image, "/v1/models/m:predict", {"instances": [{name: p} for p in pixels]})
        assert rows.status_code == 200, rows.text
        np.testing.assert_allclose(rows.json()["predictions"], want, atol=1e-6)
        cols = _post(image, "/v1/models/m:predict", {"signature_name": "serving_default", "inputs": {name: pixels}})
        np.testing.assert_allclose(cols.json()["outputs"], want, atol=1e-6)
    bad = _post(image, "/v1/models/m:predict", {"inputs": {"pixels": pixels}})
    assert bad.status_code == 400 and "unknown input name" in bad.json()["error"]
    rows = _post(text, "/v1/models/m:predict", {"instances": [{"text": "good movie"}, {"text": "bad"}]}).json()
    cols = _post(text, "/v1/models/m:predict", {"inputs": {"text": ["good movie", "bad"]}}).json()
    assert np.argmax(rows["predictions"], axis=1).tolist() == [1, 0]
    assert np.argmax(cols["outputs"], axis=1).tolist() == [1, 0]
    rows = _post(table, "/v1/models/m:predict", {"instances": [{"size": 2.0, "colour": "blue"},
                                                              {"size": -2.0, "colour": "red"}]}).json()
    cols = _post(table, "/v1/models/m:predict", {"inputs": {"size": [2.0, -2.0], "colour": ["blue", "red"]}}).json()
    assert np.argmax(rows["predictions"], axis=1).tolist() == [1, 0]
    np.testing.assert_allclose(cols["outputs"], rows["predictions"], atol=1e-6)


def test_versions_and_labels(image):
    version = image.get("/v1/models/m").json()["model_version_status"][0]["version"]
    assert image.get(f"/v1/models/m/versions/{version}").json()["model_version_status"][0]["state"] == "AVAILABLE"
    assert image.get("/v1/models/m/labels/stable").status_code == 200
    assert image.get(f"/v1/models/m/versions/{version}/metadata").json()["model_spec"]["version"] == version
    body = {"instances": _pixels(1)}
    for path in (f"/v1/models/m/versions/{version}:predict", "/v1/models/m/labels/stable:predict"):
        r = _post(image, path, body)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 1
    other = int(version) + 7
    for r in (image.get(f"/v1/models/m/versions/{other}"), image.get(f"/v1/models/m/versions/{other}/metadata"),
              _post(image, f"/v1/models/m/versions/{other}:predict", body)):
        assert r.status_code == 404 and r.json()["error"].startswith(f"Servable not found for request: "
                                                                     f"Specific(m, {other})")
    r = image.get("/v1/models/m/labels/canary")
    assert r.status_code == 404 and "Unrecognized servable version label: canary" in r.json()["error"]
    assert image.get("/v1/models/other/versions/1").status_code == 404


def test_methods_405_with_allow_and_tf_servings_error_for_classify(image):
    for path in ("/v1/models/m:predict", "/v1/models/m/versions/1:predict", "/v1/models/m:classify"):
        r = image.get(path)
        assert r.status_code == 405 and r.headers["allow"] == "POST", (path, r.text)
        assert "POST" in r.json()["error"]
    r = image.put("/v1/models/m/metadata")
    assert r.status_code == 405 and "GET" in r.headers["allow"]
    for verb, kind in (("classify", "classification"), ("regress", "regression")):
        r = _post(image, f"/v1/models/m:{verb}", {"examples": [{"x": 1.0}]})
        assert r.status_code == 400
        assert r.json()["error"].startswith(f"Expected {kind} signature method_name to be "
                                            f"tensorflow/serving/{verb}. Was: tensorflow/serving/predict")
    assert _post(image, "/v1/models/m:explain", {}).status_code == 404
    assert _post(image, "/v1/models/nope:classify", {}).status_code == 404


def test_pixels_divided_by_255_get_a_warning_or_a_400_when_strict(image, trained_run, caplog):
    pixels = (np.asarray(_pixels()) / 255).tolist()
    with caplog.at_level("WARNING", logger="aimodel.serving.contract"):
        r = _post(image, "/v1/models/m:predict", {"instances": pixels})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2
    assert "lies in [0, 1]" in r.json()["warning"] and "199 aimodel" in r.headers["warning"]
    assert any("multiply by 255" in rec.getMessage() for rec in caplog.records)
    fine = _post(image, "/v1/models/m:predict", {"instances": _pixels()})
    assert "warning" not in fine.json() and "warning" not in fine.headers
    black = _post(image, "/v1/models/m:predict", {"instances": np.zeros((1, 8, 8)).tolist()})
    assert "warning" not in black.json()  # an all-black image is a legitimate 0..255 input
    with _client(trained_run, strict_inputs=True) as strict:
        r = _post(strict, "/v1/models/m:predict", {"instances": pixels})
        assert r.status_code == 400 and "--strict-inputs" in r.json()["error"]
        assert _post(strict, "/v1/models/m:predict", {"instances": _pixels()}).status_code == 200
