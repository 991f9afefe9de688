"""aimodel serve in-process: every endpoint, every kind of model, every bad input (Starlette's TestClient)."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from aimodel.errors import ServeError
from aimodel.serving.app import create_app
from aimodel.serving.model import ServedModel
from aimodel.serving.settings import ServeSettings
from tests._serve_support import digit_pngs, png_header

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def digits_model(trained_run) -> ServedModel:
    return ServedModel(trained_run)


def _client(model: ServedModel, **settings) -> TestClient:
    return TestClient(create_app(model, ServeSettings(model=str(model.checkpoint.model_path), **settings)))


@pytest.fixture(scope="module")
def client(digits_model):
    with _client(digits_model, max_batch=8, batch_timeout_ms=2) as c:
        yield c


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def _tf(client, body, name="tiny"):
    return client.post(f"/v1/models/{name}:predict", content=body if isinstance(body, (bytes, str)) else
                       json.dumps(body), headers={"content-type": "application/json"})


# --- health, metadata, metrics, page ----------------------------------------------------------------


def test_health_readiness_and_metadata(client, digits_model):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model": "tiny"}
    meta = client.get("/metadata").json()
    assert meta["name"] == "tiny" and meta["classes"] == [str(i) for i in range(10)]
    assert meta["input"] == {"kind": "image", "shape": [8, 8, 1], "background": "dark",
                             "content_fraction": digits_model.spec.content_fraction}
    assert 0 < meta["metrics"]["training"]["val_accuracy"] <= 1
    assert meta["server"]["max_batch"] == 8
    status = client.get("/v1/models/tiny").json()["model_version_status"][0]
    assert status["state"] == "AVAILABLE" and status["version"] == digits_model.checkpoint.run_dir.name
    tf_meta = client.get("/v1/models/tiny/metadata").json()
    assert tf_meta["model_spec"]["name"] == "tiny" and tf_meta["metadata"]["aimodel"]["classes"] == meta["classes"]
    missing = client.get("/v1/models/other")
    assert missing.status_code == 404 and "serves 'tiny'" in missing.json()["error"]


def test_not_ready_before_the_model_is_warmed_up(digits_model):
    client = _client(digits_model)  # not entered: the lifespan (warm-up, batcher) has not run
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    busy = client.post("/predict", files={"file": ("a.png", next(iter(digit_pngs(1).values())), "image/png")})
    assert busy.status_code == 503 and "not running" in busy.json()["error"]


def test_the_page_and_its_static_files_are_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css", "/favicon.ico"):
        assert client.get(asset).status_code == 200, asset
    static = Path(__file__).resolve().parents[1] / "aimodel" / "serving" / "static"
    for f in static.iterdir():  # no CDN, no external fonts or scripts
        text = f.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text, f.name


def test_metrics_count_requests_latency_and_batch_sizes(client):
    client.post("/predict", files={"file": ("a.png", next(iter(digit_pngs(1).values())), "image/png")})
    text = client.get("/metrics").text
    assert 'aimodel_requests_total{handler="/predict",method="POST",status="200"}' in text
    assert 'aimodel_request_duration_seconds_bucket{handler="/predict",le="0.5"}' in text
    assert "aimodel_batch_size_count" in text and "aimodel_model_call_seconds_count" in text
    assert 'aimodel_inputs_total{outcome="predicted"}' in text
    assert "aimodel_ready 1.0" in text


# --- predictions ------------------------------------------------------------------------------------


def test_uploads_give_what_aimodel_predict_gives(client, trained_run, tmp_path):
    """Same files, same answers: the server prepares inputs with predict's own code (polarity, crop)."""
    files = {**digit_pngs(4), **digit_pngs(3, photo=True)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cli = CliRunner().invoke(__import__("aimodel.cli", fromlist=["main"]).main,
                             ["predict", *map(str, sorted(tmp_path.iterdir())), "--model", str(trained_run),
                              "--json", "-k", "3"])
    assert cli.exit_code == 0, cli.output
    expected = {Path(p["input"]).name: p for p in json.loads(cli.output)["predictions"]}
    response = client.post("/predict", files=[("file", (n, d, "image/png")) for n, d in files.items()],
                           data={"top_k": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tiny" and body["failed"] == 0
    assert [p["input"] for p in body["predictions"]] == list(files)
    for p in body["predictions"]:
        want = expected[p["input"]]
        assert p["label"] == want["label"], p["input"]
        assert [t["label"] for t in p["top_k"]] == [t["label"] for t in want["top_k"]]
        assert p["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
    # the photos were prepared like predict prepares them: still mostly right after polarity + crop
    photos = [p for p in body["predictions"] if "photo" in p["input"]]
    assert sum(p["label"] == p["input"].split("_")[1] for p in photos) >= 2


def test_tf_serving_b64_and_raw_pixels(client, digits_model):
    name, png = next(iter(digit_pngs(1).items()))
    pixels = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(__import__("io").BytesIO(png)),
                        np.float32)
    r = _tf(client, {"instances": [_b64(png), pixels[..., None].tolist(), pixels.tolist()]})
    assert r.status_code == 200, r.text
    probs = np.asarray(r.json()["predictions"])
    assert probs.shape == (3, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    direct = digits_model.probabilities([pixels[..., None]])[0]
    assert np.allclose(probs[1], direct, atol=1e-5) and np.allclose(probs[2], direct, atol=1e-5)
    assert int(np.argmax(probs[0])) == int(name.split("_")[1].split(".")[0])
    columnar = _tf(client, {"inputs": [pixels.tolist()], "signature_name": "serving_default"})
    assert columnar.status_code == 200 and np.allclose(columnar.json()["outputs"][0], direct, atol=1e-5)


@pytest.mark.parametrize("body, status, words", [
    ("{not json", 400, "not valid JSON"),
    (b"\xff\xfe\x00garbage", 400, "JSON"),
    ([1, 2], 400, "JSON object"),
    ({"instances": []}, 400, "empty"),
    ({"instances": 3}, 400, "must be a list"),
    ({"instances": [1], "inputs": [1]}, 400, "exactly one"),
    ({"instance": [1]}, 400, "unknown key"),
    ({"instances": [[1, 2, 3]]}, 400, "shape [3]"),
    ({"instances": [[[1, 2], [3]]]}, 400, "nested list of numbers"),
    ({"instances": ["/etc/passwd"]}, 400, "never read as a file path"),
    ({"instances": [{"b64": "%%%"}]}, 400, "not valid base64"),
    ({"instances": [{"b64": base64.b64encode(b"not an image").decode()}]}, 400, "not a readable image"),
    ({"instances": [{"b64": base64.b64encode(png_header(100_000, 100_000)).decode()}]}, 413, "decompression bomb"),
    ({"instances": [[[float("nan")] * 8] * 8]}, 400, "NaN"),
    ({"instances": [1], "signature_name": "other"}, 400, "serving_default"),
])
def test_tf_serving_bad_requests_get_4xx_json_naming_the_problem(client, body, status, words):
    r = _tf(client, body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert "Traceback" not in r.text
    assert client.get("/readyz").status_code == 200  # and the server is still up


@pytest.mark.parametrize("files, data, status, words", [
    ([("file", ("x.png", b"\x89PNG broken", "image/png"))], {}, 422, "x.png: not a readable image"),
    ([("file", ("x.txt", b"hello", "text/plain"))], {}, 422, "not an image"),
    ([("file", ("t.csv", b"a,b\n1,2\n", "text/csv"))], {}, 422, "a table"),
    ([], {"text": "hello"}, 422, "not text"),
    ([], {"top_k": "3"}, 400, "no inputs"),
    ([], {"colour": "red"}, 400, "unknown form field"),
    ([("file", ("a.png", png_header(8000, 8000), "image/png"))], {}, 413, "8000×8000 pixels"),
    ([("file", ("a.png", b"", "image/png"))], {"top_k": "0"}, 400, "top_k"),
    ([("file", ("a.png", b"", "image/png"))], {"polarity": "up"}, 400, "polarity"),
])
def test_upload_bad_inputs_get_4xx_json_naming_the_problem(client, files, data, status, words):
    r = client.post("/predict", files=files or None, data=data)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_one_bad_upload_does_not_sink_the_others(client):
    good = next(iter(digit_pngs(1).items()))
    r = client.post("/predict", files=[("file", good), ("file", ("bad.png", b"junk", "image/png"))])
    assert r.status_code == 422
    body = r.json()
    assert body["failed"] == 1 and body["predictions"][0]["label"] and "error" in body["predictions"][1]


def test_wrong_content_type_unknown_paths_and_methods(client):
    assert client.post("/predict", json={"instances": [1]}).status_code == 415
    assert client.get("/nope").json() == {"error": "no such endpoint: GET /nope"}
    assert client.get("/predict").status_code == 405
    assert _tf(client, {"instances": [1]}, name="other").status_code == 404


# --- limits and keys --------------------------------------------------------------------------------


def test_body_limit_pixel_limit_and_input_count(digits_model):
    with _client(digits_model, max_body_bytes=2048, max_pixels=1000, max_inputs=2) as c:
        big = c.post("/predict", files={"file": ("a.png", b"x" * 4096, "image/png")})
        assert big.status_code == 413 and "2,048 bytes" in big.json()["error"]

        def chunks():  # no Content-Length: the limit is counted as the body streams in
            for _ in range(8):
                yield b"x" * 512

        streamed = c.post("/v1/models/tiny:predict", content=chunks())
        assert streamed.status_code == 413
        photo = next(iter(digit_pngs(1, photo=True).values()))  # 64×64 = 4,096 pixels
        assert c.post("/predict", files={"file": ("p.png", photo)}).status_code == 413
        three = _tf(c, {"instances": [[[0] * 8] * 8] * 3})
        assert three.status_code == 413 and "more than 2 inputs" in three.json()["error"]


def test_a_request_past_the_timeout_gets_504_and_the_server_goes_on(digits_model, monkeypatch):
    real, slow, release, finished = digits_model.outputs, threading.Event(), threading.Event(), threading.Event()

    def model_call(samples):
        if slow.is_set():  # held until the test has its 504
            assert release.wait(60)
            finished.set()
        return real(samples)

    monkeypatch.setattr(digits_model, "outputs", model_call)
    with _client(digits_model, timeout_s=0.2) as c:
        slow.set()
        try:
            late = _tf(c, {"instances": [[[0] * 8] * 8]})
        finally:
            slow.clear()
            release.set()
        assert late.status_code == 504 and "0.2 s" in late.json()["error"]
        assert c.get("/readyz").status_code == 200
        assert finished.wait(60)  # the model thread finishes the late call (its answer is dropped)
        assert _tf(c, {"instances": [[[0] * 8] * 8]}).status_code == 200


def test_api_key_guards_everything_but_health_and_the_page(digits_model):
    with _client(digits_model, api_key="s3cret") as c:
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        for path in ("/metadata", "/metrics", "/v1/models/tiny"):
            r = c.get(path)
            assert r.status_code == 401 and "API key" in r.json()["error"], path
        assert c.get("/metadata", headers={"X-API-Key": "wrong"}).json() == {"error": "wrong API key"}
        assert c.get("/metadata", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert _tf(c, {"instances": [[[0] * 8] * 8]}).status_code == 401


def test_an_unexpected_error_is_a_500_json_without_traceback(digits_model, monkeypatch):
    app = create_app(digits_model, ServeSettings(model="x"))
    monkeypatch.setattr(digits_model, "describe", lambda: 1 / 0)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/metadata")
        assert r.status_code == 500
        assert r.json() == {"error": "internal error (ZeroDivisionError); the server log has the details"}
        assert c.get("/healthz").status_code == 200


def test_settings_are_checked():
    with pytest.raises(ServeError, match="max_batch=0"):
        ServeSettings(model="m", max_batch=0)
    with pytest.raises(ServeError, match="URLs"):
        ServeSettings(model="m", name="a/b")
    assert ServeSettings.from_json(ServeSettings(model="m", port=9).to_json()).port == 9


# --- text, table and sequence models ----------------------------------------------------------------


def test_text_model_strings_fields_files_and_csv(text_run):
    with _client(ServedModel(text_run, name="reviews")) as c:
        r = _tf(c, {"instances": ["a good movie", "bad", _b64(b"good good")]}, name="reviews")
        assert r.status_code == 200, r.text
        assert [int(np.argmax(p)) for p in r.json()["predictions"]] == [1, 0, 1]  # neg, pos
        form = c.post("/predict", data={"text": ["good", "bad"]},
                      files=[("file", ("r.txt", b"bad bad", "text/plain")),
                             ("file", ("r.csv", b"id,review\n1,good\n2,bad\n", "text/csv"))])
        assert form.status_code == 200, form.text
        got = [(p["input"], p["label"]) for p in form.json()["predictions"]]
        assert got == [("r.txt", "neg"), ("r.csv:2", "pos"), ("r.csv:3", "neg"), ("text 1", "pos"), ("text 2", "neg")]
        assert _tf(c, {"instances": [[1, 2]]}, name="reviews").status_code == 400
        image = c.post("/predict", files={"file": ("d.png", b"\x89PNG", "image/png")})
        assert image.status_code == 422 and "an image" in image.json()["error"]
        empty = c.post("/predict", data={"text": " "})
        assert empty.status_code == 422 and "empty text" in empty.json()["error"]


def test_tabular_model_rows_columns_and_csv(tabular_run):
    with _client(ServedModel(tabular_run, name="sizes")) as c:
        r = _tf(c, {"instances": [{"size": 2.0, "colour": "blue"}, {"size": -2, "colour": "red"}]}, name="sizes")
        assert r.status_code == 200, r.text
        assert [int(np.argmax(p)) for p in r.json()["predictions"]] == [1, 0]
        cols = _tf(c, {"inputs": {"size": [2.0, -2.0], "colour": ["blue", "red"]}}, name="sizes")
        assert np.allclose(cols.json()["outputs"], r.json()["predictions"], atol=1e-6)
        csv = c.post("/predict", files={"file": ("t.csv", b"size,colour\n3,blue\n-3,red\n", "text/csv")})
        assert [p["label"] for p in csv.json()["predictions"]] == ["big", "small"]
        for bad, words in (({"size": 1}, "missing column 'colour'"), ({"size": True, "colour": "red"}, "number"),
                           ({"size": "x", "colour": "red"}, "must be a number"), ([1, 2], "an object")):
            b = _tf(c, {"instances": [bad]}, name="sizes")
            assert b.status_code == 400 and words in b.json()["error"], (bad, b.text)
        missing = c.post("/predict", files={"file": ("t.csv", b"size\n1\n", "text/csv")})
        assert missing.status_code == 422 and "missing column(s) colour" in missing.json()["error"]


def test_sequence_model_numbers_and_npy(tmp_path):
    import io

    import keras

    inputs = keras.Input(shape=(4, 2))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    run = tmp_path / "seq"
    run.mkdir()
    model.save(run / "best.keras")
    (run / "meta.json").write_text(json.dumps({"input": {"kind": "sequence", "shape": [4, 2],
                                                         "class_names": ["a", "b", "c"]}}))
    x = np.arange(8, dtype=np.float32).reshape(4, 2) / 8
    with _client(ServedModel(run)) as c:
        r = _tf(c, {"instances": [x.tolist()]}, name="seq")
        assert r.status_code == 200
        assert np.allclose(r.json()["predictions"][0], model.predict_on_batch(x[None])[0], atol=1e-5)
        buf = io.BytesIO()
        np.save(buf, np.stack([x, x]))
        up = c.post("/predict", files={"file": ("s.npy", buf.getvalue(), "application/octet-stream")})
        assert [p["input"] for p in up.json()["predictions"]] == ["s.npy[0]", "s.npy[1]"]
        assert _tf(c, {"instances": [x[:2].tolist()]}, name="seq").status_code == 400
        bad = c.post("/predict", files={"file": ("s.npy", b"not numpy", "application/octet-stream")})
        assert bad.status_code == 422 and "not a readable .npy" in bad.json()["error"]


def test_an_exported_tflite_file_is_served_like_its_keras_model(trained_run, digits_model, tmp_path):
    """The server loads through the backend registry: an export answers as best.keras does."""
    import shutil

    from aimodel.export import export_run

    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("checkpoints", "tensorboard", "exports"))
    export_run(run, formats=["tflite"])
    exported = ServedModel(run / "exports" / "model.tflite")
    assert exported.checkpoint.format == "tflite" and exported.name == digits_model.name
    files = [("file", (n, d, "image/png")) for n, d in digit_pngs(3).items()]
    with _client(exported) as c, _client(digits_model) as k:
        got, want = c.post("/predict", files=files).json(), k.post("/predict", files=files).json()
        assert c.get("/metadata").json()["format"] == "tflite"
    for a, b in zip(got["predictions"], want["predictions"]):
        assert a["label"] == b["label"] and a["confidence"] == pytest.approx(b["confidence"], abs=1e-4)
