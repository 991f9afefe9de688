"""The serve handlers one at a time: each reads its state from request.app.state, so none needs create_app."""

from __future__ import annotations

import asyncio
import json
import sys
from types import SimpleNamespace

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from aimodel.serving import app as serve_app


def _request(server, path_params: dict | None = None) -> Request:
    """A bare GET request whose app carries ``server`` in its state, as create_app's app does."""
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
             "app": SimpleNamespace(state=SimpleNamespace(server=server)), "path_params": path_params or {}}
    return Request(scope)


def _server(ready: bool, running: bool, timeout_s: float = 5.0):
    model = SimpleNamespace(name="digits", version="3")
    return SimpleNamespace(model=model, ready=ready, batcher=SimpleNamespace(running=running),
                           settings=SimpleNamespace(timeout_s=timeout_s))


def _call(handler, request):
    response = asyncio.run(handler(request))
    return response.status_code, json.loads(response.body)


def test_readyz_alone_follows_the_servers_state():
    assert _call(serve_app.readyz, _request(_server(ready=True, running=True))) == \
        (200, {"status": "ready", "model": "digits"})
    for ready, running in ((False, True), (True, False)):
        assert _call(serve_app.readyz, _request(_server(ready, running))) == \
            (503, {"status": "not ready", "model": "digits"})


def test_model_status_alone_checks_the_name_in_the_url():
    server = _server(ready=False, running=False)
    status, body = _call(serve_app.model_status, _request(server, {"name": "digits"}))
    assert status == 200 and body["model_version_status"][0]["state"] == "LOADING"
    assert body["model_version_status"][0]["version"] == "3"
    with pytest.raises(HTTPException) as err:
        asyncio.run(serve_app.model_status(_request(server, {"name": "other"})))
    assert err.value.status_code == 404 and "serves 'digits'" in err.value.detail


def test_guarded_answers_504_when_a_handler_outlives_the_timeout():
    async def slow(request):
        await asyncio.sleep(30)

    status, body = _call(serve_app.guarded(slow), _request(_server(True, True, timeout_s=0.05)))
    assert status == 504 and body == {"error": "no answer within 0.05 s (aimodel serve --timeout)"}
    assert serve_app.guarded(slow).__name__ == "slow"


def test_every_route_is_a_module_level_handler():
    paths = {getattr(r, "path", None) for r in serve_app.ROUTES}
    assert {"/healthz", "/readyz", "/metrics", "/metadata", "/predict", "/v1/models/{name:model}:predict"} <= paths
    for route in serve_app.ROUTES:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None:  # the static files mount
            continue
        if endpoint.__qualname__ == "guarded.<locals>.endpoint":  # wraps a module-level handler of the same name
            assert "<locals>" not in getattr(sys.modules[endpoint.__module__], endpoint.__name__).__qualname__
        else:  # a handler of app.py or of a protocol module (tfserving.py, kserve.py)
            assert getattr(sys.modules[endpoint.__module__], endpoint.__name__) is endpoint, route.path
