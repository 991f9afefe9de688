"""Run the app with uvicorn: bind, load the model, serve until SIGTERM or Ctrl-C, finishing requests in flight."""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Optional

from aimodel.errors import ServeError
from aimodel.serving.settings import ServeSettings
from aimodel.tfimport import import_tensorflow

log = logging.getLogger(__name__)

#: How ``--workers N`` processes learn the settings (uvicorn starts them by importing :func:`worker_app`).
SETTINGS_ENV = "AIMODEL_SERVE_SETTINGS"
DEBUG_ENV = "AIMODEL_DEBUG"
#: Extra seconds a stopping server gives requests in flight beyond the request timeout.
DRAIN_MARGIN_S = 5.0


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (bound here, so a busy port is a clear error, not a log line)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = "; choose another --port" if exc.errno in (98, 48) else ""
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}){hint}") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app, settings: ServeSettings, debug: bool = False, **extra):
    import uvicorn

    from aimodel.serving import connections

    # GuardedH11Protocol: a header-read timeout and a connection cap below the open-file limit
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, workers=settings.workers, lifespan="on",
        log_level="debug" if debug else "info", access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.timeout_s + DRAIN_MARGIN_S), server_header=False,
        http=connections.GuardedH11Protocol, timeout_keep_alive=connections.KEEP_ALIVE_S,
        proxy_headers=False, **extra)  # no proxy in front by default: X-Forwarded-* are not trusted


def serve(settings: ServeSettings, sock: Optional[socket.socket] = None, debug: bool = False) -> Optional[str]:
    """Serve ``settings.model`` until a stop signal; returns the signal's name (``"SIGTERM"``) if known.

    A stop signal closes the listening socket, lets requests in flight finish (up to
    the request timeout), answers what the batcher holds, then returns.

    Raises:
        ServeError: the port is taken, or the server could not start.
        CheckpointError: the model cannot be found or loaded.
    """
    import uvicorn

    from aimodel.serving import connections

    sock = sock or bind(settings.host, settings.port)
    connections.configure(settings.header_timeout_s, settings.max_connections)
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if settings.workers == 1:
            from aimodel.serving.app import create_app
            from aimodel.serving.model import ServedModel

            model = ServedModel(settings.model, settings.name)
            model.warm_up()  # here, so a model that cannot answer is a clean error, not a failed startup
            app = create_app(model, settings, freeze_gc=True)
            server = uvicorn.Server(uvicorn_config(app, settings, debug))
            try:
                server.run(sockets=[sock])
            except SystemExit:  # uvicorn's answer to a failed startup
                server.started = False
            if not server.started:
                raise ServeError("the server did not start (see the messages above)")
        else:
            from uvicorn.supervisors import Multiprocess

            os.environ[SETTINGS_ENV] = settings.to_json()
            if debug:
                os.environ[DEBUG_ENV] = "1"
            config = uvicorn_config("aimodel.serving.server:worker_app", settings, debug, factory=True)
            Multiprocess(config, sockets=[sock]).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return signal.Signals(received[-1]).name if received else None


def worker_app():
    """The app of one ``--workers`` process: its own model, batcher and metrics."""
    from aimodel.serving import connections
    from aimodel.serving.app import create_app
    from aimodel.serving.model import ServedModel

    settings = ServeSettings.from_json(os.environ[SETTINGS_ENV])
    connections.configure(settings.header_timeout_s, settings.max_connections)
    import_tensorflow(debug=bool(os.environ.get(DEBUG_ENV)))
    return create_app(ServedModel(settings.model, settings.name), settings, freeze_gc=True)

