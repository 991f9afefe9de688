"""The Starlette application: endpoints, error answers, readiness; see docs/serve.md for the API."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from aimodel.errors import AimodelError
from aimodel.inference.predict import Prediction
from aimodel.serving.batcher import Batcher, InputFailed, Overloaded
from aimodel.serving.inputs import FilePart, Prepared, is_light, parse_instances, prepare_instances, prepare_items, \
    text_items, upload_items
from aimodel.serving.limits import PixelBudget, RequestError, default_max_pixels, parse_json, too_many
from aimodel.serving.metrics import Metrics
from aimodel.serving.middleware import ApiKeyMiddleware, BodyLimitMiddleware, ObserveMiddleware
from aimodel.serving.model import ServedModel
from aimodel.serving.settings import ServeSettings
from aimodel.serving.contract import check_range
from aimodel.serving.forecasts import forecasts, prepare_series
from aimodel.serving.tfserving import ROUTES as TF_SERVING_ROUTES, model_metadata, model_status, \
    named_server as _named_server, unname
from aimodel.serving.kserve import INFER_PATHS as KSERVE_INFER_PATHS, ROUTES as KSERVE_ROUTES, infer as kserve_infer

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: The page loads nothing from elsewhere; this header keeps it so.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                                           "base-uri 'none'; frame-ancestors 'none'",
                "Cache-Control": "no-cache"}
FORM_FIELDS = ("text", "top_k", "polarity", "crop", "column")
#: The status a request whose client left mid-body is counted under in /metrics (nginx's convention).
CLIENT_CLOSED = 499


class Server:
    """The state behind the endpoints: the model, the batcher, the metrics, readiness.

    Built once by :func:`create_app` and kept in ``app.state.server``, where every handler finds it.
    """

    def __init__(self, model: ServedModel, settings: ServeSettings, freeze_gc: bool = False):
        self.model = model
        self.settings = settings
        self.freeze_gc = freeze_gc
        self.metrics = Metrics(settings.max_batch, model.name, model.kind)
        self.batcher = Batcher(model.outputs, settings.max_batch, settings.batch_timeout_ms / 1000,
                               settings.max_queue, observe=self.metrics.observe_batch)
        self.ready = False
        #: the port the gRPC API listens on, once started (``--grpc-port 0`` picks one)
        self.grpc_port: Optional[int] = None
        #: per image; by default from the model's input size (a digit model never needs 36 megapixels)
        self.max_pixels = settings.max_pixels or default_max_pixels(tuple(model.spec.shape))

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.model.warm_up)
        if self.freeze_gc:
            # TensorFlow leaves ~400,000 objects for the cyclic GC; a full collection of them stalls every
            # request for about half a second. Frozen, only what requests allocate is ever scanned.
            gc.collect()
            gc.freeze()
        self.batcher.start()
        self.ready = True
        self.metrics.ready.set(1)
        log.info("model %s ready", self.model.name)

    async def stop(self) -> None:
        self.ready = False
        self.metrics.ready.set(0)
        await self.batcher.stop()

    async def predict(self, prepared: Prepared) -> list:
        """The model's outputs (class or label probabilities, values) or :class:`InputFailed` per ready sample."""
        ready = prepared.ready
        if not ready:
            return []
        try:
            results = await self.batcher.submit([prepared.samples[i] for i in ready])
        except Overloaded as exc:
            raise HTTPException(503, f"the server is busy ({exc}); retry shortly", {"Retry-After": "1"}) from None
        except AimodelError as exc:
            log.error("the model cannot answer: %s", exc)
            raise HTTPException(500, f"the model cannot answer: {exc}") from None
        return results

    def describe(self) -> dict:
        """The model's metadata (``GET /metadata``) plus the server's limits and endpoints."""
        info = self.model.describe()
        s = self.settings
        info["server"] = {"max_batch": s.max_batch, "batch_timeout_ms": s.batch_timeout_ms,
                          "max_body_bytes": s.max_body_bytes, "max_pixels": self.max_pixels,
                          "max_inputs": s.max_inputs, "timeout_s": s.timeout_s,
                          "endpoints": {"tf_serving": f"/v1/models/{self.model.name}:predict", "upload": "/predict",
                                        "kserve_v2": f"/v2/models/{self.model.name}/infer",
                                        **({"grpc_port": s.grpc_port} if s.grpc_port else {})},
                          "strict_inputs": s.strict_inputs}
        return info

    def count_inputs(self, ok: int, refused: int) -> None:
        if ok:
            self.metrics.inputs.labels(outcome="predicted").inc(ok)
        if refused:
            self.metrics.inputs.labels(outcome="refused").inc(refused)


def create_app(model: ServedModel, settings: ServeSettings, freeze_gc: bool = False) -> Starlette:
    """The ASGI app serving ``model``; its lifespan warms the model up and runs the batcher.

    The endpoints are the module-level handlers of :data:`ROUTES`; each finds its :class:`Server`
    in ``request.app.state.server``, which this function builds once.

    Args:
        freeze_gc: after the warm-up, exempt every object that exists from the cyclic garbage
            collector (``gc.freeze``); right for a server process, not for a notebook or a test run.

    Example:
        >>> app = create_app(ServedModel("runs/quickstart/1"), ServeSettings(model="runs/quickstart/1"))
    """
    server = Server(model, settings, freeze_gc)
    middleware = [
        Middleware(ObserveMiddleware, metrics=server.metrics),
        Middleware(ApiKeyMiddleware, api_key=settings.api_key),
        Middleware(BodyLimitMiddleware, limit=settings.max_body_bytes),
    ]
    handlers = {HTTPException: _http_error, RequestError: _request_error, ClientDisconnect: _client_gone,
                Exception: _internal_error}
    app = Starlette(routes=list(ROUTES), middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.server = server
    return app


def server_of(request: Request) -> Server:
    """The :class:`Server` of the app that received ``request``."""
    return request.app.state.server


@asynccontextmanager
async def lifespan(app: Starlette):
    """Warm the model up and start the batcher before the first request; stop the batcher at the end."""
    server: Server = app.state.server
    await server.start()
    grpc_server = None
    if server.settings.grpc_port is not None:  # TF Serving's gRPC API, in this loop: one model and batcher
        from aimodel.serving import grpc_server as grpc_api

        grpc_server, server.grpc_port = await grpc_api.start(server)
    try:
        yield
    finally:
        if grpc_server is not None:
            await grpc_api.stop(grpc_server, server.settings.timeout_s)
        await server.stop()


def guarded(handler):
    """Run ``handler`` within the request timeout (reading the body included)."""

    async def endpoint(request: Request) -> Response:
        timeout_s = server_of(request).settings.timeout_s
        try:
            if hasattr(asyncio, "timeout"):  # Python 3.11+: no extra task per request
                async with asyncio.timeout(timeout_s):
                    return await handler(request)
            return await asyncio.wait_for(handler(request), timeout_s)
        except asyncio.TimeoutError:
            return _error(504, f"no answer within {timeout_s:g} s (aimodel serve --timeout)")

    endpoint.__name__ = handler.__name__
    endpoint.__module__ = handler.__module__
    return endpoint


# --- health, metadata, metrics -------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    server = server_of(request)
    if server.ready and server.batcher.running:
        return JSONResponse({"status": "ready", "model": server.model.name})
    return JSONResponse({"status": "not ready", "model": server.model.name}, status_code=503)


async def metrics(request: Request) -> Response:
    server = server_of(request)
    server.metrics.queue.set(server.batcher.waiting)
    body, content_type = server.metrics.render()
    return Response(body, media_type=content_type)


async def metadata(request: Request) -> Response:
    return JSONResponse(server_of(request).describe())


# --- predictions ---------------------------------------------------------------------------------


async def tf_predict(request: Request) -> Response:
    server = _named_server(request)
    with server.batcher.expect():  # an open batch waits for this request while it is read and prepared
        raw = await request.body()
        prepared = await run_in_threadpool(_tf_prepare, raw, server.model, server.settings,
                                           server.max_pixels)
    results = await server.predict(prepared)
    failed = next((f"{prepared.names[i]}: {r}" for i, r in enumerate(results) if isinstance(r, InputFailed)),
                  None)
    if failed:  # a well-formed request the model could not answer (a NaN output, say): 422, as /predict
        server.count_inputs(0, len(results))
        raise HTTPException(422, failed)
    server.count_inputs(len(results), 0)
    body: dict[str, Any] = {prepared.key: [r.tolist() for r in results]}
    if prepared.warning:  # beside the answer, so a client that reads only the predictions is not broken
        body["warning"] = prepared.warning
        return JSONResponse(body, headers={"Warning": '199 aimodel "input values look divided by 255"'})
    return JSONResponse(body)


async def _read_uploads(request: Request, server: Server) -> tuple[Prepared, int]:
    settings, model = server.settings, server.model
    try:
        form = await request.form(max_files=settings.max_inputs,
                                  max_fields=settings.max_inputs + len(FORM_FIELDS))
    except HTTPException as exc:
        # Starlette's form parser says 400 "Too many files/fields"; that is the input-count limit (413)
        if str(exc.detail).startswith("Too many"):
            raise RequestError(413, too_many(settings.max_inputs)) from None
        raise
    try:
        files, texts, options = [], [], {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append(FilePart(value.filename or key, await value.read(), value.content_type or ""))
            elif key == "text":
                texts.append(value)
            elif key in FORM_FIELDS:
                options[key] = value
            else:
                raise HTTPException(400, f"unknown form field {key!r}; fields: files (any name), "
                                         f"{', '.join(FORM_FIELDS)}")
    finally:
        await form.close()
    options = {**{k: v for k, v in request.query_params.items() if k in FORM_FIELDS}, **options}
    top_k, polarity, crop = _options(options, len(model.class_names), settings)
    if not files and not texts:
        raise HTTPException(400, "no inputs: upload files (multipart, any field name) or send 'text' fields")
    args = (files, texts, options.get("column"), polarity, crop, model, settings, server.max_pixels)
    if is_light(files, texts):
        return _upload_prepare(*args), top_k
    return await run_in_threadpool(_upload_prepare, *args), top_k


async def predict(request: Request) -> Response:
    server = server_of(request)
    model = server.model
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "POST /predict takes multipart/form-data: files (any field name) and 'text' "
                                 f"fields; for JSON use POST /v1/models/{model.name}:predict")
    with server.batcher.expect():  # an open batch waits for this request while it is read and prepared
        prepared, top_k = await _read_uploads(request, server)
    results = await server.predict(prepared)
    preds = _answers(model, prepared, results, top_k)
    failed = sum(p.error is not None for p in preds)
    server.count_inputs(len(preds) - failed, failed)
    body: dict[str, Any] = {"model": model.name, "task": model.answer.task, "failed": failed,
                            "predictions": [p.to_json() for p in preds]}
    if failed:
        first = next(p.error for p in preds if p.error)
        body = {"error": f"{failed} of {len(preds)} input(s) could not be predicted; first: {first}", **body}
    return JSONResponse(body, status_code=422 if failed else 200)


def _answers(model: ServedModel, prepared: Prepared, results: list, top_k: int) -> list:
    """One answer per input, as ``aimodel predict --json`` gives it: the task's answer, or a series' forecast."""
    if model.spec.forecast:  # each series' next steps with their times (aimodel/serving/forecasts.py)
        return forecasts(prepared, results, model.spec)
    preds = [Prediction(input=name, error=error) for name, error in zip(prepared.names, prepared.errors)]
    for i, r in zip(prepared.ready, results):
        if isinstance(r, InputFailed):
            preds[i].error = f"{preds[i].input}: {r}"
        else:
            model.answer.fill(preds[i], r, top_k)
    return preds


# --- the page ------------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


#: Every URL the server answers; docs/serve.md describes them.
ROUTES = (
    Route("/", page, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/metadata", metadata, methods=["GET"]),
    Route("/v1/models/{name:model}", model_status, methods=["GET"]),
    Route("/v1/models/{name:model}/metadata", model_metadata, methods=["GET"]),
    Route("/v1/models/{name:model}:predict", guarded(tf_predict), methods=["POST"]),
    Route("/v1/models/{name:model}/versions/{version:int}:predict", guarded(tf_predict), methods=["POST"]),
    Route("/v1/models/{name:model}/labels/{label:model}:predict", guarded(tf_predict), methods=["POST"]),
    *TF_SERVING_ROUTES,
    *KSERVE_ROUTES,
    *(Route(path, guarded(kserve_infer), methods=["POST"]) for path in KSERVE_INFER_PATHS),
    Route("/predict", guarded(predict), methods=["POST"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
)


def _tf_prepare(raw: bytes, model: ServedModel, settings: ServeSettings, max_pixels: int) -> Prepared:
    instances, key = parse_instances(unname(parse_json(raw), model), model.kind, settings.max_inputs)
    _check_count(len(instances), settings)
    prepared = prepare_instances(instances, model.kind, tuple(model.spec.shape), model.preparer(),
                                 PixelBudget(max_pixels), key)
    raw = [s for inst, s in zip(instances, prepared.samples) if not isinstance(inst, dict)]  # not b64 files
    prepared.warning = check_range(raw, model, settings.strict_inputs)
    return prepared


def _upload_prepare(files: list, texts: list, column: Optional[str], polarity: str, crop: bool,
                    model: ServedModel, settings: ServeSettings, max_pixels: int) -> Prepared:
    if model.spec.forecast:  # one series per file or text field (aimodel/serving/forecasts.py)
        _check_count(len(files) + len(texts), settings)
        return prepare_series(files, texts, model.spec)
    items, budget = [], PixelBudget(max_pixels)
    for part in files:
        items += upload_items(part, model.kind, column, model.spec, budget,
                              max_rows=settings.max_inputs - len(items))
        _check_count(len(items), settings)
    items += text_items(texts, model.kind)
    _check_count(len(items), settings)
    return prepare_items(items, model.preparer(polarity, crop))


def _check_count(n: int, settings: ServeSettings) -> None:
    if n > settings.max_inputs:
        raise RequestError(413, too_many(settings.max_inputs))


def _options(options: dict, n_classes: int, settings: ServeSettings) -> tuple[int, str, bool]:
    try:
        top_k = int(options.get("top_k", 3))
        if top_k < 1:
            raise ValueError
    except ValueError:
        raise HTTPException(400, f"top_k must be a whole number ≥ 1, got {options.get('top_k')!r}") from None
    polarity = options.get("polarity", "auto")
    if polarity not in ("auto", "keep", "invert"):
        raise HTTPException(400, f"polarity must be auto, keep or invert, got {polarity!r}")
    crop = str(options.get("crop", "true")).lower()
    if crop not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise HTTPException(400, f"crop must be true or false, got {options.get('crop')!r}")
    return min(top_k, n_classes), polarity, crop in ("true", "1", "yes", "on")


def _error(status: int, message: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    message = exc.detail
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"{request.method} is not allowed on {request.url.path}"
    return _error(exc.status_code, message, exc.headers)


async def _request_error(request: Request, exc: RequestError) -> Response:
    return _error(exc.status, exc.message)


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # Not an application error: counted in /metrics with nginx's 499 ("client closed request"), never sent.
    log.debug("%s %s: the client disconnected before its request was read", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this answer, so uvicorn logs its traceback (server side only).
    return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")
