"""ASGI middleware of the server: metrics per request, the API key, the request-body limit."""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Optional

from starlette.exceptions import HTTPException

from aimodel.serving.metrics import Metrics

_CONVERTOR = re.compile(r":[a-z_]+}")

#: Paths anyone may fetch without the API key: health checks, and the page (it holds no data; it asks for the key).
OPEN_PATHS = ("/healthz", "/readyz", "/", "/favicon.ico", "/v2/health/live", "/v2/health/ready")
OPEN_PREFIXES = ("/static/",)


async def send_json(send, status: int, body: dict, headers: Optional[list] = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
                + (headers or [])})
    await send({"type": "http.response.body", "body": data})


class ObserveMiddleware:
    """Counts every request and times it (by the route it matched), and adds ``X-Content-Type-Options``."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def observed_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = list(message.get("headers", [])) + [(b"x-content-type-options", b"nosniff")]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            route = scope.get("route")
            # the route's template without its convertors ("{name:model}" -> "{name}"): stable metric labels
            handler = _CONVERTOR.sub("}", getattr(route, "path", None) or "unmatched")
            self.metrics.requests.labels(handler=handler, method=scope["method"], status=str(status[0])).inc()
            self.metrics.latency.labels(handler=handler).observe(time.perf_counter() - start)


class ApiKeyMiddleware:
    """Every path but :data:`OPEN_PATHS` needs ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``."""

    def __init__(self, app, api_key: Optional[str]):
        self.app = app
        self.key = api_key.encode() if api_key else None

    async def __call__(self, scope, receive, send):
        if self.key is None or scope["type"] != "http" or _is_open(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if given is not None and hmac.compare_digest(given, self.key):
            return await self.app(scope, receive, send)
        message = "this server needs an API key: header 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"
        if given is not None:
            message = "wrong API key"
        await send_json(send, 401, {"error": message}, [(b"www-authenticate", b'Bearer realm="aimodel"')])


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than this server's limit of {limit:,} bytes "
                              "(aimodel serve --max-body-mb)")


class BodyLimitMiddleware:
    """413 for a body over ``limit`` bytes: at once from Content-Length, else as soon as the stream passes it."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.limit
            except ValueError:
                return await send_json(send, 400, {"error": "Content-Length is not a number"})
            if too_large:
                return await send_json(send, 413, {"error": BodyTooLarge(self.limit).detail})
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)
