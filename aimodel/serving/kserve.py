"""KServe V2 / Open Inference Protocol over REST: health, model metadata and ``infer``, with JSON tensors
and the binary tensor data extension that ``tritonclient`` uses by default.

The body of a binary request is a JSON header of ``Inference-Header-Content-Length`` bytes,
then each input whose ``parameters.binary_data_size`` is set, in order. Every handler finds the
:class:`~aimodel.serving.app.Server` in ``request.app.state.server``; the input count is
checked against ``--max-inputs`` from the declared shapes, before any tensor is built.
"""

from __future__ import annotations

import json
import struct
from importlib import metadata
from typing import Any, Optional

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aimodel.serving.batcher import InputFailed
from aimodel.serving.contract import OUTPUT_NAME, contract, prepare_tensors, tensors
from aimodel.serving.inputs import Prepared
from aimodel.serving.limits import RequestError, parse_json

HEADER_LENGTH = "inference-header-content-length"
#: V2 datatype <-> NumPy dtype (BYTES: length-prefixed strings in binary, strings in JSON)
DATATYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
             "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_}
FROM_NUMPY = {"bool": "BOOL", "uint8": "UINT8", "int32": "INT32", "int64": "INT64", "float16": "FP16",
              "float32": "FP32", "float64": "FP64", "string": "BYTES"}


def _model_server(request: Request):
    server = request.app.state.server
    name, version = request.path_params["name"], request.path_params.get("version")
    if name != server.model.name:
        raise HTTPException(404, f"no model named {name!r} here; this server serves {server.model.name!r}")
    if version is not None and version != server.model.version:
        raise HTTPException(404, f"model {name!r} has no version {version!r}; it serves {server.model.version}")
    return server


async def server_metadata(request: Request) -> Response:
    try:  # the installed package's version (the package root, aimodel.__version__, sits above serving)
        version = metadata.version("aimodel")
    except metadata.PackageNotFoundError:
        version = ""
    return JSONResponse({"name": "aimodel", "version": version, "extensions": ["binary_tensor_data"]})


async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    server = request.app.state.server
    ok = server.ready and server.batcher.running
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


async def model_ready(request: Request) -> Response:
    server = _model_server(request)
    ok = server.ready and server.batcher.running
    return JSONResponse({"name": server.model.name, "ready": ok}, status_code=200 if ok else 503)


async def model_metadata(request: Request) -> Response:
    server = _model_server(request)
    inputs, outputs = tensors(server.model)
    body: dict[str, Any] = {
        "name": server.model.name, "versions": [server.model.version], "platform": "aimodel_keras",
        "inputs": [_described(t) for t in inputs], "outputs": [_described(t) for t in outputs]}
    if contract(server.model) is not None:
        body["parameters"] = {"input_contract": json.dumps(contract(server.model))}
    return JSONResponse(body)


def _described(tensor: dict) -> dict:
    return {"name": tensor["name"], "datatype": FROM_NUMPY.get(tensor["dtype"], "FP32"), "shape": tensor["shape"]}


async def infer(request: Request) -> Response:
    server = _model_server(request)
    raw = await request.body()
    with server.batcher.expect():
        header, prepared = await run_in_threadpool(_prepare, raw, request.headers.get(HEADER_LENGTH), server)
    results = await server.predict(prepared)
    failed = next((f"{prepared.names[i]}: {r}" for i, r in enumerate(results) if isinstance(r, InputFailed)), None)
    if failed:
        server.count_inputs(0, len(results))
        raise HTTPException(400, failed)
    server.count_inputs(len(results), 0)
    return _answer(header, np.stack(results).astype(np.float32), server.model, prepared.warning)


def _prepare(raw: bytes, header_length: Optional[str], server) -> tuple[dict, Prepared]:
    header, binary = _split(raw, header_length)
    arrays = _arrays(header, binary, server.model, server.settings.max_inputs)
    return header, prepare_tensors(arrays, server.model, server.settings, server.max_pixels)


def _split(raw: bytes, header_length: Optional[str]) -> tuple[dict, bytes]:
    size = len(raw)
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise RequestError(400, "Inference-Header-Content-Length is not a number") from None
        if not 0 < size <= len(raw):
            raise RequestError(400, f"Inference-Header-Content-Length {size} does not fit a body of {len(raw)} bytes")
    header = parse_json(raw[:size])  # nesting depth and digit limits as on the REST side
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list) or not header["inputs"]:
        raise RequestError(400, 'the body must be a JSON object with a non-empty "inputs" list')
    return header, raw[size:]


def _arrays(header: dict, binary: bytes, model, max_inputs: int) -> dict[str, np.ndarray]:
    names = [t["name"] for t in tensors(model)[0]]
    arrays, offset = {}, 0
    for i, spec in enumerate(header["inputs"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise RequestError(400, f"inputs[{i}]: expected an object with a name, datatype, shape and data")
        name = spec["name"]
        if name not in names:
            raise RequestError(400, f"input {name!r}: this model's inputs are {names} (GET /v2/models/{model.name})")
        shape, dtype = _shape(name, spec, max_inputs)
        size = (spec.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise RequestError(400, f"input {name!r}: binary_data_size {size!r} runs past the body")
            arrays[name] = _from_binary(name, binary[offset:offset + size], shape, dtype)
            offset += size
        else:
            arrays[name] = _from_json(name, spec.get("data"), shape, dtype)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise RequestError(400, f"missing input(s) {', '.join(missing)}")
    return arrays


def _shape(name: str, spec: dict, max_inputs: int) -> tuple[list[int], Any]:
    shape, datatype = spec.get("shape"), spec.get("datatype")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise RequestError(400, f"input {name!r}: shape must be a list of sizes, the batch first; got {shape!r}")
    if datatype not in DATATYPES:
        raise RequestError(400, f"input {name!r}: datatype {datatype!r}; expected one of {', '.join(DATATYPES)}")
    if shape[0] > max_inputs:
        raise RequestError(413, f"{shape[0]} inputs in one request; this server takes at most {max_inputs} "
                                "(aimodel serve --max-inputs)")
    if int(np.prod(shape)) > 64 * 1024 * 1024:
        raise RequestError(413, f"input {name!r}: shape {shape} is too large")
    return shape, DATATYPES[datatype]


def _from_binary(name: str, data: bytes, shape: list[int], dtype) -> np.ndarray:
    count = int(np.prod(shape))
    if dtype is np.object_:
        items, pos = [], 0
        while pos < len(data):
            if pos + 4 > len(data):
                raise RequestError(400, f"input {name!r}: truncated BYTES element")
            (n,) = struct.unpack_from("<I", data, pos)
            items.append(data[pos + 4:pos + 4 + n])
            pos += 4 + n
        if len(items) != count or pos != len(data):
            raise RequestError(400, f"input {name!r}: {len(items)} BYTES elements for shape {shape}")
        return np.array(items, dtype=object).reshape(shape)
    itemsize = np.dtype(dtype).itemsize
    if len(data) != count * itemsize:
        raise RequestError(400, f"input {name!r}: {len(data)} bytes of data for shape {shape} "
                                f"({count * itemsize} expected)")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _from_json(name: str, data: Any, shape: list[int], dtype) -> np.ndarray:
    if not isinstance(data, list):
        raise RequestError(400, f"input {name!r}: data must be a list (or the binary extension)")
    try:
        if dtype is np.object_:
            flat = np.array([d.encode() if isinstance(d, str) else d for d in np.ravel(np.array(data, object))],
                            dtype=object)
            return flat.reshape(shape)
        return np.asarray(data, dtype=dtype).reshape(shape)
    except (ValueError, TypeError, OverflowError):
        raise RequestError(400, f"input {name!r}: data does not fit shape {shape} and its datatype") from None


def _answer(header: dict, probs: np.ndarray, model, warning: Optional[str]) -> Response:
    params = header.get("parameters") or {}
    wanted = header.get("outputs") or []
    binary = bool(params.get("binary_data_output")) or any(
        isinstance(o, dict) and (o.get("parameters") or {}).get("binary_data") for o in wanted)
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "FP32", "shape": list(probs.shape)}
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": [output]}
    if "id" in header:
        body["id"] = header["id"]
    if warning:
        body["parameters"] = {"warning": warning}
    if not binary:
        output["data"] = probs.ravel().tolist()
        return JSONResponse(body)
    data = probs.tobytes()
    output["parameters"] = {"binary_data_size": len(data)}
    head = json.dumps(body).encode()
    return Response(head + data, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(head))})


_MODEL = "/v2/models/{name:model}"
_VERSIONED = "/v2/models/{name:model}/versions/{version:model}"

#: the paths of :func:`infer`; app.ROUTES registers them within the request timeout
INFER_PATHS = (f"{_MODEL}/infer", f"{_VERSIONED}/infer")

#: The V2 routes but ``infer``; app.ROUTES includes them.
ROUTES = (
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    *(r for base in (_MODEL, _VERSIONED) for r in (
        Route(base, model_metadata, methods=["GET"]),
        Route(f"{base}/ready", model_ready, methods=["GET"]),
    )),
)
