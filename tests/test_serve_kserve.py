"""KServe V2 (Open Inference Protocol) REST, driven with tritonclient[http] against a running server."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from tests._serve_support import free_port

pytestmark = pytest.mark.serve


class Running:
    """A uvicorn server on 127.0.0.1 in a thread, for clients that need a socket."""

    def __init__(self, run, **settings):
        import uvicorn

        from aimodel.serving.app import create_app
        from aimodel.serving.model import ServedModel
        from aimodel.serving.settings import ServeSettings

        self.port = free_port()
        settings = ServeSettings(model=str(run), name="m", port=self.port, **settings)
        app = create_app(ServedModel(run, name="m"), settings)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def image(trained_run):
    with Running(trained_run, max_inputs=4, max_body_bytes=50_000) as running:
        yield running


def _http(path, method="GET", body=None, headers=None, running=None):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://{running.url}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_health_metadata_and_infer_with_json_tensors(image, trained_run):
    from aimodel.inference.predict import Predictor

    assert _http("/v2/health/live", running=image)[0] == 200
    assert _http("/v2/health/ready", running=image)[0] == 200
    assert _http("/v2/models/m/ready", running=image)[0] == 200
    assert json.loads(_http("/v2", running=image)[1])["extensions"] == ["binary_tensor_data"]
    meta = json.loads(_http("/v2/models/m", running=image)[1])
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 8, 8, 1]}]
    assert meta["outputs"] == [{"name": "output_0", "datatype": "FP32", "shape": [-1, 10]}]
    assert json.loads(meta["parameters"]["input_contract"])["range"] == [0.0, 255.0]
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1)).astype(np.float32)
    body = {"id": "r1", "inputs": [{"name": "image", "datatype": "FP32", "shape": [2, 8, 8, 1],
                                    "data": pixels.ravel().tolist()}]}
    status, raw = _http("/v2/models/m/infer", "POST", json.dumps(body).encode(), running=image)
    answer = json.loads(raw)
    assert status == 200 and answer["id"] == "r1" and answer["outputs"][0]["shape"] == [2, 10]
    want = Predictor(trained_run).probabilities(list(pixels))
    np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (2, 10)), want, atol=1e-5)


def test_bad_v2_requests_are_4xx_with_one_line(image):
    def post(body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, raw = _http("/v2/models/m/infer", "POST", data, headers, running=image)
        assert raw.count(b"\n") == 0 and b"Traceback" not in raw
        return status, json.loads(raw)["error"]

    tensor = {"name": "image", "datatype": "FP32", "shape": [1, 8, 8, 1], "data": [0.0] * 64}
    assert post(b"{not json")[0] == 400
    assert post({"inputs": []})[0] == 400
    assert post({"inputs": [dict(tensor, name="pixels")]})[0] == 400
    assert post({"inputs": [dict(tensor, datatype="FP99")]})[0] == 400
    assert post({"inputs": [dict(tensor, shape=[1, 5, 5, 1], data=[0.0] * 25)]})[0] == 400
    assert post({"inputs": [dict(tensor, data=[0.0] * 10)]})[0] == 400
    status, message = post({"inputs": [dict(tensor, shape=[5, 8, 8, 1], data=[0.0] * 320)]})
    assert status == 413 and "--max-inputs" in message
    status, message = post({"inputs": [dict(tensor, shape=[1, 8, 8, 1], parameters={"binary_data_size": 256})]},
                           {"Inference-Header-Content-Length": "999999"})
    assert status == 400
    assert _http("/v2/models/other/infer", "POST", b"{}", running=image)[0] == 404
    assert _http("/v2/models/m/versions/77", running=image)[0] == 404
    assert _http("/v2/models/m/infer", "POST", b"x" * 60_000, running=image)[0] == 413  # --max-body-mb


tritonclient = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is an optional test dependency")


def test_tritonclient_binary_tensors_image_text_and_tabular(image, text_run, tabular_run, trained_run):
    from aimodel.inference.predict import Predictor

    client = tritonclient.InferenceServerClient(image.url)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("m")
    assert client.get_model_metadata("m")["inputs"][0]["name"] == "image"
    pixels = np.random.default_rng(2).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    inp = tritonclient.InferInput("image", list(pixels.shape), "FP32")
    inp.set_data_from_numpy(pixels)  # binary_data=True: tritonclient's default
    result = client.infer("m", [inp], outputs=[tritonclient.InferRequestedOutput("output_0")])
    np.testing.assert_allclose(result.as_numpy("output_0"), Predictor(trained_run).probabilities(list(pixels)),
                               atol=1e-5)
    scaled = tritonclient.InferInput("image", list(pixels.shape), "FP32")
    scaled.set_data_from_numpy(pixels / 255, binary_data=False)
    warned = client.infer("m", [scaled]).get_response()
    assert "[0, 1]" in warned["parameters"]["warning"]
    with pytest.raises(tritonclient.InferenceServerException if hasattr(tritonclient, "InferenceServerException")
                       else Exception, match="max-inputs"):
        big = tritonclient.InferInput("image", [5, 8, 8, 1], "FP32")
        big.set_data_from_numpy(np.zeros((5, 8, 8, 1), np.float32))
        client.infer("m", [big])
    with Running(text_run) as running:
        c = tritonclient.InferenceServerClient(running.url)
        inp = tritonclient.InferInput("text", [2, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[b"good movie"], [b"bad"]], dtype=object))
        assert np.argmax(c.infer("m", [inp]).as_numpy("output_0"), axis=1).tolist() == [1, 0]
    with Running(tabular_run) as running:
        c = tritonclient.InferenceServerClient(running.url)
        size = tritonclient.InferInput("size", [2, 1], "FP32")
        size.set_data_from_numpy(np.array([[2.0], [-2.0]], np.float32))
        colour = tritonclient.InferInput("colour", [2, 1], "BYTES")
        colour.set_data_from_numpy(np.array([[b"blue"], [b"red"]], dtype=object), binary_data=False)
        assert np.argmax(c.infer("m", [size, colour]).as_numpy("output_0"), axis=1).tolist() == [1, 0]


@pytest.mark.parametrize("headers", [
    [(b"content-type", b"application/json")],
    [(b"content-type", b"application/octet-stream"), (b"inference-header-content-length", b"60")],
], ids=["json", "binary"])
def test_a_v2_client_leaving_mid_body_is_counted_as_499_not_as_an_error(trained_run, headers, caplog):
    """As the REST test in test_serve_hardening.py: the ASGI app is driven directly, the body stops half-way."""
    import logging

    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    messages = iter([{"type": "http.request", "body": b'{"inputs": [{"name": "image", ', "more_body": True},
                     {"type": "http.disconnect"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    app = create_app(ServedModel(trained_run, name="m"), ServeSettings(model=str(trained_run), name="m"))
    with TestClient(app) as client:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v2/models/m/infer", "raw_path": b"/v2/models/m/infer",
                 "query_string": b"", "root_path": "", "headers": [*headers, (b"content-length", b"500")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app}
        with caplog.at_level(logging.ERROR):
            client.portal.call(app, scope, receive, send)  # raises if the app lets the disconnect out
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "Exception in ASGI application" not in caplog.text
        metrics = client.get("/metrics").text
        assert 'handler="/v2/models/{name}/infer",method="POST",status="499"} 1.0' in metrics, metrics
        assert 'status="500"' not in metrics
        assert client.get("/v2/health/ready").status_code == 200
