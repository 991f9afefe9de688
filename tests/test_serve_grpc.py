"""TF Serving's gRPC API, driven with the official tensorflow-serving-api stubs as the client."""

from __future__ import annotations

import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("tensorflow_serving.apis")

from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,  # noqa: E402
                                     predict_pb2, prediction_service_pb2_grpc)

from tests._serve_support import free_port  # noqa: E402

pytestmark = pytest.mark.serve


def _serve(run, **settings):
    from starlette.testclient import TestClient

    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel
    from aimodel.serving.settings import ServeSettings

    settings = ServeSettings(model=str(run), name="m", grpc_port=free_port(), **settings)
    return TestClient(create_app(ServedModel(run, name="m"), settings))


class Stubs:
    def __init__(self, client):
        port = client.app.state.server.grpc_port
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)


@pytest.fixture(scope="module")
def image(trained_run):
    with _serve(trained_run, api_key="k3y", max_inputs=4, max_body_bytes=50_000) as client:
        yield client, Stubs(client)


KEY = (("x-api-key", "k3y"),)


def _request(name="m", **inputs):
    import tensorflow as tf

    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    req.model_spec.signature_name = "serving_default"
    for key, value in inputs.items():
        req.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return req


def _code(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        call(*args, timeout=30, **kwargs)
    assert "\n" not in err.value.details() and "Traceback" not in err.value.details()
    return err.value.code(), err.value.details()


def test_predict_matches_rest_and_metadata_and_status(image):
    client, stubs = image
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype(np.float32)
    reply = stubs.predict.Predict(_request(image=pixels), timeout=30, metadata=KEY)
    import tensorflow as tf

    got = tf.make_ndarray(reply.outputs["output_0"])
    rest = client.post("/v1/models/m:predict", json={"instances": pixels.tolist()}, headers={"x-api-key": "k3y"})
    np.testing.assert_allclose(got, rest.json()["predictions"], atol=1e-5)
    assert reply.model_spec.name == "m"
    meta_req = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def", "input_contract"])
    meta_req.model_spec.name = "m"
    meta = stubs.predict.GetModelMetadata(meta_req, timeout=30, metadata=KEY)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    meta.metadata["signature_def"].Unpack(sig_map)
    sig = sig_map.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert [d.size for d in sig.inputs["image"].tensor_shape.dim] == [-1, 8, 8, 1]
    assert [d.size for d in sig.outputs["output_0"].tensor_shape.dim] == [-1, 10]
    assert sig.inputs["image"].dtype == sig.outputs["output_0"].dtype == 1  # DT_FLOAT in TensorFlow's DataType
    from google.protobuf import struct_pb2

    value = struct_pb2.Struct()
    meta.metadata["input_contract"].Unpack(value)
    assert list(value["range"]) == [0.0, 255.0]
    status_req = get_model_status_pb2.GetModelStatusRequest()
    status_req.model_spec.name = "m"
    status = stubs.models.GetModelStatus(status_req, timeout=30, metadata=KEY)
    assert status.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE


def test_bad_requests_get_grpc_statuses_with_one_line(image):
    _, stubs = image
    pixels = np.zeros((1, 8, 8, 1), np.float32)
    code = grpc.StatusCode
    assert _code(stubs.predict.Predict, _request(image=pixels))[0] == code.UNAUTHENTICATED
    assert _code(stubs.predict.Predict, _request(name="other", image=pixels), metadata=KEY)[0] == code.NOT_FOUND
    versioned = _request(image=pixels)
    versioned.model_spec.version.value = 99
    assert _code(stubs.predict.Predict, versioned, metadata=KEY)[0] == code.NOT_FOUND
    assert _code(stubs.predict.Predict, _request(image=np.zeros((1, 5, 5, 1), np.float32)),
                 metadata=KEY)[0] == code.INVALID_ARGUMENT  # wrong shape
    assert _code(stubs.predict.Predict, _request(pixels=pixels), metadata=KEY)[0] == code.INVALID_ARGUMENT
    assert _code(stubs.predict.Predict, _request(image=np.array([[b"x"]])), metadata=KEY)[0] == \
        code.INVALID_ARGUMENT  # strings for pixels
    many, detail = _code(stubs.predict.Predict, _request(image=np.zeros((5, 8, 8, 1), np.float32)), metadata=KEY)
    assert many == code.RESOURCE_EXHAUSTED and "--max-inputs" in detail
    huge = _request(image=np.zeros((4, 64, 64, 1), np.float32))  # 64 KB > the 50 KB body limit
    assert _code(stubs.predict.Predict, huge, metadata=KEY)[0] == code.RESOURCE_EXHAUSTED
    classify = _code(stubs.predict.Classify, __import__("tensorflow_serving.apis.classification_pb2",
                                                        fromlist=["x"]).ClassificationRequest(), metadata=KEY)
    assert classify[0] == code.INVALID_ARGUMENT and "Expected classification signature" in classify[1]


def test_pixels_divided_by_255_warn_in_trailing_metadata(image):
    _, stubs = image
    pixels = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    reply, call = stubs.predict.Predict.with_call(_request(image=pixels), timeout=30, metadata=KEY)
    assert [d.size for d in reply.outputs["output_0"].tensor_shape.dim] == [2, 10]
    assert any(k == "warning" and "[0, 1]" in v for k, v in call.trailing_metadata())


def test_text_and_tabular_models_over_grpc(text_run, tabular_run):
    import tensorflow as tf

    with _serve(text_run) as client:
        stub = Stubs(client).predict
        out = tf.make_ndarray(stub.Predict(_request(text=np.array([b"good movie", b"bad"])), timeout=30)
                              .outputs["output_0"])
        assert np.argmax(out, axis=1).tolist() == [1, 0]
    with _serve(tabular_run) as client:
        stub = Stubs(client).predict
        req = _request(size=np.array([[2.0], [-2.0]], np.float32), colour=np.array([[b"blue"], [b"red"]]))
        out = tf.make_ndarray(stub.Predict(req, timeout=30).outputs["output_0"])
        assert np.argmax(out, axis=1).tolist() == [1, 0]
        code, detail = _code(stub.Predict, _request(size=np.array([[2.0]], np.float32)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "colour" in detail


@pytest.mark.parametrize("leave", ["deadline", "channel_closed"])
def test_a_cancelled_call_leaves_the_server_serving_and_logs_no_traceback(image, monkeypatch, caplog, leave):
    """The client gives up while the model is slow (its deadline passes, or it closes the channel)."""
    import logging
    import threading

    import anyio

    client, stubs = image
    server = client.app.state.server
    real_submit = server.batcher.submit
    entered, left = threading.Event(), threading.Event()

    async def slow_submit(samples):
        entered.set()
        try:
            await anyio.sleep(3)
            return await real_submit(samples)
        finally:
            left.set()  # cancelled or finished: the handler is done with this call either way

    monkeypatch.setattr(server.batcher, "submit", slow_submit)
    pixels = np.random.default_rng(1).uniform(0, 255, (1, 8, 8, 1)).astype(np.float32)
    with caplog.at_level(logging.WARNING):
        if leave == "deadline":
            assert _code(lambda *a, **k: stubs.predict.Predict(*a, **{**k, "timeout": 0.5}), _request(image=pixels),
                         metadata=KEY)[0] == grpc.StatusCode.DEADLINE_EXCEEDED
        else:
            channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
            future = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict.future(
                _request(image=pixels), timeout=30, metadata=KEY)
            assert entered.wait(30), "the call never reached the model"
            channel.close()
            with pytest.raises(grpc.RpcError):
                future.result(timeout=30)
        assert entered.is_set() and left.wait(30), "the cancelled call never reached the model or never finished"
        monkeypatch.setattr(server.batcher, "submit", real_submit)
        reply = stubs.predict.Predict(_request(image=pixels), timeout=30, metadata=KEY)
    import tensorflow as tf

    assert tf.make_ndarray(reply.outputs["output_0"]).shape == (1, 10)
    assert "Traceback" not in caplog.text, caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_the_start_up_message_names_the_grpc_port_only_when_asked():
    from aimodel.cli_serve import endpoints

    url = "http://127.0.0.1:8000"
    plain = endpoints(url, "m", "127.0.0.1", None)
    assert "POST http://127.0.0.1:8000/v1/models/m:predict" in plain and "gRPC" not in plain
    lines = endpoints(url, "m", "127.0.0.1", 8500).splitlines()
    assert lines[0] == plain.splitlines()[0]
    assert lines[1] == "  gRPC (TF Serving PredictionService, ModelService) on 127.0.0.1:8500"
    assert "[::1]:8500" in endpoints("http://[::1]:8000", "m", "[::1]", 8500)
