"""TF Serving REST around ``:predict``: status and metadata (``signature_def``), versions, labels, methods.

Follows TensorFlow Serving's published REST reference (tensorflow/serving, ``api_rest.md``): the
served model is one version (:attr:`ServedModel.version`) that carries the label ``stable``; the
metadata is ``GetModelMetadataResponse`` in JSON; ``:classify`` and ``:regress`` answer as TF
Serving does for a model whose signature is a predict signature. Every handler finds the
:class:`~aimodel.serving.app.Server` in ``request.app.state.server``.
"""

from __future__ import annotations

from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aimodel.serving.contract import contract, tensors
from aimodel.serving.inputs import RequestError

PREDICT_METHOD = "tensorflow/serving/predict"
SIGNATURE = "serving_default"
#: the labels the served version answers to (``/v1/models/<name>/labels/<label>``)
LABELS = ("stable",)
#: NumPy dtype name -> TensorFlow's DataType enum name, as TF Serving's JSON writes it
DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "int32": "DT_INT32",
          "int64": "DT_INT64", "uint8": "DT_UINT8", "bool": "DT_BOOL", "string": "DT_STRING"}
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ModelNameConvertor(Convertor):
    """A model name or label in a URL: no ':' (so ``/v1/models/x:predict`` never reads as the model 'x:predict')."""

    regex = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model", ModelNameConvertor())


def named_server(request: Request):
    """The server, if the URL names its model and (when given) its version or label; else TF Serving's 404."""
    server = request.app.state.server
    params = request.path_params
    name = params["name"]
    if name != server.model.name:
        raise HTTPException(404, f"no model named {name!r} here; this server serves {server.model.name!r}")
    version = params.get("version")
    if version is not None and str(version) != server.model.version:
        raise HTTPException(404, f"Servable not found for request: Specific({name}, {version}); this server "
                                 f"serves version {server.model.version}")
    label = params.get("label")
    if label is not None and label not in LABELS:
        raise HTTPException(404, f"Unrecognized servable version label: {label}; labels here: {', '.join(LABELS)}")
    return server


def signature_def(model) -> dict:
    """The model's ``SignatureDefMap`` as TF Serving's JSON writes it (one ``serving_default`` predict signature)."""
    inputs, outputs = tensors(model)
    return {"signature_def": {SIGNATURE: {
        "inputs": {t["name"]: _tensor_info(t) for t in inputs},
        "outputs": {t["name"]: _tensor_info(t) for t in outputs},
        "method_name": PREDICT_METHOD,
        "defaults": {},
    }}}


def _tensor_info(tensor: dict) -> dict:
    return {"dtype": DTYPES.get(tensor["dtype"], "DT_INVALID"),
            "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in tensor["shape"]], "unknown_rank": False},
            "name": f"{SIGNATURE}_{tensor['name']}:0"}


def status_body(server) -> dict:
    """``GetModelStatusResponse`` in JSON."""
    state = "AVAILABLE" if server.ready else "LOADING"
    return {"model_version_status": [
        {"version": server.model.version, "state": state, "status": {"error_code": "OK", "error_message": ""}}]}


def metadata_body(server) -> dict:
    """``GetModelMetadataResponse`` in JSON: the ``signature_def``, plus aimodel's own description and value range."""
    model = server.model
    metadata: dict[str, Any] = {"signature_def": signature_def(model), "aimodel": server.describe()}
    if contract(model) is not None:
        metadata["input_contract"] = contract(model)
    return {"model_spec": {"name": model.name, "signature_name": "", "version": model.version}, "metadata": metadata}


async def model_status(request: Request) -> Response:
    return JSONResponse(status_body(named_server(request)))


async def model_metadata(request: Request) -> Response:
    return JSONResponse(metadata_body(named_server(request)))


async def other_method(request: Request) -> Response:
    """``/v1/models/<name>:<verb>`` for what ``:predict``'s route does not take: wrong HTTP methods, other verbs."""
    verb = request.path_params["verb"]
    if verb not in ("predict", "classify", "regress"):
        raise HTTPException(404, f"no method {verb!r}: TF Serving's REST API has :predict, :classify, :regress")
    if request.method != "POST":
        raise HTTPException(405, f"{request.method} is not allowed on :{verb}; send a POST", {"Allow": "POST"})
    named_server(request)
    kind = {"classify": "classification", "regress": "regression"}[verb]
    # TF Serving's own answer for a model whose only signature is a predict signature
    raise HTTPException(400, f"Expected {kind} signature method_name to be tensorflow/serving/{verb}. "
                             f"Was: {PREDICT_METHOD}; use :predict")


def unname(body: Any, model) -> Any:
    """Named inputs -> the plain forms :func:`~aimodel.serving.inputs.parse_instances` reads.

    A one-input model's input may be named, by its signature name or by its kind
    (``image``, ``text``): rows ``{"instances": [{"image": ...}]}`` and columns
    ``{"inputs": {"image": [...]}}``. Tabular rows and columns are named by column already.
    """
    if not isinstance(body, dict) or model.kind == "tabular":
        return body
    signature_name = tensors(model)[0][0]["name"]
    names = {signature_name, model.kind}
    instances = body.get("instances")
    if isinstance(instances, list) and instances and all(_named(i, names) for i in instances):
        return {**body, "instances": [next(iter(i.values())) for i in instances]}
    inputs = body.get("inputs")
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        if len(inputs) != 1 or not set(inputs) <= names:
            raise RequestError(400, f'"inputs": unknown input name(s) {", ".join(map(repr, sorted(inputs)))}; '
                                    f"this model's input is {signature_name!r}")
        return {**body, "inputs": next(iter(inputs.values()))}
    return body


def _named(instance: Any, names: set[str]) -> bool:
    return isinstance(instance, dict) and len(instance) == 1 and next(iter(instance)) in names


_TARGETS = ("", "/versions/{version:int}", "/labels/{label:model}")

#: TF Serving's status and metadata with a version or label, and the verbs' fallback; app.ROUTES puts them
#: after ``:predict``'s own routes (a POST to ``:predict`` must match those first).
ROUTES = tuple(
    [Route(f"/v1/models/{{name:model}}{t}", model_status, methods=["GET"]) for t in _TARGETS[1:]]
    + [Route(f"/v1/models/{{name:model}}{t}/metadata", model_metadata, methods=["GET"]) for t in _TARGETS[1:]]
    + [Route(f"/v1/models/{{name:model}}{t}:{{verb}}", other_method, methods=ALL_METHODS) for t in _TARGETS]
)
