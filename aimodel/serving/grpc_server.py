"""TF Serving's gRPC API (``aimodel serve --grpc-port``): PredictionService.Predict and GetModelMetadata,
ModelService.GetModelStatus, with the protos of the official ``tensorflow-serving-api`` package.

A ``grpc.aio`` server in the HTTP server's event loop, so both protocols share one model,
batcher, set of limits and API key (metadata ``x-api-key: KEY`` or ``authorization: Bearer KEY``).
Errors are gRPC status codes with a one-line message: INVALID_ARGUMENT, NOT_FOUND,
RESOURCE_EXHAUSTED, UNAUTHENTICATED, UNAVAILABLE.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Optional

import grpc
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from aimodel.errors import ServeError
from aimodel.serving.batcher import InputFailed
from aimodel.serving.contract import OUTPUT_NAME, contract, prepare_tensors, tensors
from aimodel.serving.inputs import Prepared, RequestError
from aimodel.serving.tfserving import DTYPES, LABELS, PREDICT_METHOD, SIGNATURE

log = logging.getLogger(__name__)

#: HTTP status of a refused request -> the gRPC status TF Serving's clients expect
STATUS = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED,
          413: grpc.StatusCode.RESOURCE_EXHAUSTED, 422: grpc.StatusCode.INVALID_ARGUMENT,
          503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}


class Refused(Exception):
    """A request answered with a gRPC status and one line."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


async def _answer(context, call, *args):
    """Run ``call``; turn every refusal into a status and one line (never a traceback to the client)."""
    try:
        return await call(*args)
    except Refused as exc:
        await context.abort(exc.code, exc.message)
    except RequestError as exc:
        await context.abort(STATUS.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), exc.message)
    except HTTPException as exc:
        await context.abort(STATUS.get(exc.status_code, grpc.StatusCode.INTERNAL), str(exc.detail))


class _Guard:
    """The checks every call shares: the API key, the model's name, version and label."""

    def __init__(self, server):
        self.server = server
        self.key = server.settings.api_key.encode() if server.settings.api_key else None

    def check(self, context, spec) -> None:
        if self.key is not None:
            meta = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
            given = meta.get("x-api-key")
            auth = meta.get("authorization", "")
            if given is None and auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
            if given is None or not hmac.compare_digest(given.encode(), self.key):
                raise Refused(grpc.StatusCode.UNAUTHENTICATED, "wrong API key" if given is not None else
                              "this server needs an API key: metadata 'x-api-key: KEY' or 'authorization: Bearer KEY'")
        model = self.server.model
        if spec.name != model.name:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"no model named {spec.name!r} here; this server serves "
                                                     f"{model.name!r}")
        if spec.HasField("version") and str(spec.version.value) != model.version:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({spec.name}, "
                                                     f"{spec.version.value}); this server serves version {model.version}")
        if spec.version_label and spec.version_label not in LABELS:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"Unrecognized servable version label: {spec.version_label}")
        if spec.signature_name not in ("", SIGNATURE):
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, f"signature_name {spec.signature_name!r}: this model "
                                                            f"has only {SIGNATURE!r}")

    def spec(self, response_spec) -> None:
        response_spec.name = self.server.model.name
        response_spec.version.value = int(self.server.model.version)
        response_spec.signature_name = SIGNATURE


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` through the shared batcher; ``GetModelMetadata`` with the same ``signature_def`` as REST."""

    def __init__(self, server):
        self.server = server
        self.guard = _Guard(server)

    async def Predict(self, request, context):
        return await _answer(context, self._predict, request, context)

    async def GetModelMetadata(self, request, context):
        return await _answer(context, self._metadata, request, context)

    async def Classify(self, request, context):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Expected classification signature method_name to "
                                                              f"be tensorflow/serving/classify. Was: {PREDICT_METHOD}")

    async def Regress(self, request, context):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Expected regression signature method_name to "
                                                              f"be tensorflow/serving/regress. Was: {PREDICT_METHOD}")

    async def _predict(self, request, context):
        server = self.server
        self.guard.check(context, request.model_spec)
        with server.batcher.expect():
            prepared = await run_in_threadpool(prepare_request, request, server.model, server.settings,
                                               server.max_pixels)
        if prepared.warning:
            context.set_trailing_metadata((("warning", prepared.warning),))
        results = await server.predict(prepared)
        failed = next((f"{prepared.names[i]}: {r}" for i, r in enumerate(results) if isinstance(r, InputFailed)),
                      None)
        if failed:
            server.count_inputs(0, len(results))
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, failed)
        server.count_inputs(len(results), 0)
        import tensorflow as tf

        response = predict_pb2.PredictResponse()
        self.guard.spec(response.model_spec)
        response.outputs[OUTPUT_NAME].CopyFrom(tf.make_tensor_proto(np.stack(results).astype(np.float32)))
        return response

    async def _metadata(self, request, context):
        self.guard.check(context, request.model_spec)
        fields = list(request.metadata_field)
        unknown = [f for f in fields if f not in ("signature_def", "input_contract")]
        if unknown or not fields:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "metadata_field must be 'signature_def' (and, for the "
                                                            f"value range, 'input_contract'), got {fields}")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        self.guard.spec(response.model_spec)
        if "signature_def" in fields:
            response.metadata["signature_def"].Pack(signature_def_map(self.server.model))
        if "input_contract" in fields and contract(self.server.model) is not None:
            from google.protobuf import struct_pb2

            value = struct_pb2.Struct()
            value.update(contract(self.server.model))
            response.metadata["input_contract"].Pack(value)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus``: the one served version, AVAILABLE once warmed up."""

    def __init__(self, server):
        self.server = server
        self.guard = _Guard(server)

    async def GetModelStatus(self, request, context):
        return await _answer(context, self._status, request, context)

    async def HandleReloadConfigRequest(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "aimodel serve serves one model; restart it to change it")

    async def _status(self, request, context):
        self.guard.check(context, request.model_spec)
        pb = get_model_status_pb2
        response = pb.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = int(self.server.model.version)
        status.state = pb.ModelVersionStatus.AVAILABLE if self.server.ready else pb.ModelVersionStatus.LOADING
        return response


def signature_def_map(model):
    """The ``SignatureDefMap`` proto of :func:`aimodel.serving.tfserving.signature_def`."""
    import tensorflow as tf

    sig_map = get_model_metadata_pb2.SignatureDefMap()
    sig = sig_map.signature_def[SIGNATURE]
    sig.method_name = PREDICT_METHOD
    inputs, outputs = tensors(model)
    for target, described in ((sig.inputs, inputs), (sig.outputs, outputs)):
        for t in described:
            info = target[t["name"]]
            info.name = f"{SIGNATURE}_{t['name']}:0"
            # the DataType enum through TensorFlow's public dtypes (DT_INVALID for a dtype it does not know)
            info.dtype = tf.dtypes.as_dtype(t["dtype"]).as_datatype_enum if t["dtype"] in DTYPES else 0
            for d in t["shape"]:
                info.tensor_shape.dim.add(size=d)
    return sig_map


def prepare_request(request, model, settings, max_pixels: int) -> Prepared:
    """A ``PredictRequest``'s tensors -> prepared samples, checking the input count before any tensor is built.

    Raises:
        RequestError: 400 (unknown input names, wrong dtype or shape) or 413 (too many inputs).
    """
    inputs, _ = tensors(model)
    names = {t["name"] for t in inputs}
    given = dict(request.inputs)
    if model.kind != "tabular" and len(given) == 1 and next(iter(given)) == model.kind:
        given = {inputs[0]["name"]: given[model.kind]}
    if set(given) != names:
        raise RequestError(400, f"inputs {sorted(given)}; this model takes {sorted(names)} (see GetModelMetadata)")
    counts = set()
    for name, proto in given.items():
        dims = [d.size for d in proto.tensor_shape.dim]
        if not dims:
            raise RequestError(400, f"input {name!r}: a scalar; the first dimension is the batch")
        counts.add(dims[0])
        if dims[0] > settings.max_inputs:
            raise RequestError(413, f"{dims[0]} inputs in one request; this server takes at most "
                                    f"{settings.max_inputs} (aimodel serve --max-inputs)")
    if len(counts) != 1 or 0 in counts:
        raise RequestError(400, f"the inputs' batch sizes differ or are 0: {sorted(counts)}")
    arrays = {name: _ndarray(name, proto) for name, proto in given.items()}
    return prepare_tensors(arrays, model, settings, max_pixels)


def _ndarray(name: str, proto) -> np.ndarray:
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # a malformed TensorProto: any error of the converter is the client's
        raise RequestError(400, f"input {name!r}: not a readable tensor ({type(exc).__name__})") from None


async def start(server) -> tuple[Any, int]:
    """Start the gRPC server on ``settings.grpc_port`` in the running loop; returns (grpc server, port).

    Raises:
        ServeError: the port cannot be bound.
    """
    settings = server.settings
    limit = settings.max_body_bytes
    grpc_server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                           ("grpc.max_send_message_length", -1)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(server), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(server), grpc_server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        port = grpc_server.add_insecure_port(f"{host}:{settings.grpc_port}")
    except RuntimeError as exc:
        raise ServeError(f"cannot listen for gRPC on {settings.host}:{settings.grpc_port} ({exc}); choose another "
                         "--grpc-port") from None
    if not port:
        raise ServeError(f"cannot listen for gRPC on {settings.host}:{settings.grpc_port}; choose another --grpc-port")
    await grpc_server.start()
    log.info("TF Serving gRPC API on %s:%d", settings.host, port)
    return grpc_server, port


async def stop(grpc_server, grace_s: Optional[float]) -> None:
    await grpc_server.stop(grace_s)
