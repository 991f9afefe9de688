"""What ``aimodel serve`` is told: one frozen object, shared by the CLI, the app and its workers."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Optional

from aimodel.errors import ServeError

#: A served model's name appears in URLs (``/v1/models/<name>:predict``).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ServeSettings:
    """Options of ``aimodel serve``; every limit is per server process (worker).

    Attributes:
        model: run directory or model file.
        name: the name in ``/v1/models/<name>``; default: the run's config name.
        max_batch: most inputs in one model call.
        batch_timeout_ms: how long the first input of a batch waits for others.
        api_key: when set, every endpoint but health checks and the page needs it
            (header ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``).
        max_body_bytes: larger request bodies get 413.
        max_pixels: larger images (width × height) get 413, before they are decoded; a request's
            images together may have 4 times this. None: from the model's input size
            (:func:`aimodel.serving.inputs.default_max_pixels`, 16 million for small models).
        timeout_s: a request still unanswered after this gets 504.
        max_queue: inputs waiting for the model beyond this get 503 (the server is saturated).
        max_inputs: most inputs (instances, files, CSV rows) in one request.
        strict_inputs: refuse (400) image inputs whose pixels all lie in [0, 1] instead of warning.
        grpc_port: also serve TF Serving's gRPC API on this port (None: no gRPC).
        header_timeout_s: a connection whose request headers take longer is closed.
        max_connections: most open connections (503 beyond); None: three quarters of the file
            descriptors free when the server starts (it is lowered to that if larger).
    """

    model: str
    name: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 64
    batch_timeout_ms: float = 5.0
    workers: int = 1
    api_key: Optional[str] = None
    max_body_bytes: int = 10 * 1024 * 1024
    max_pixels: Optional[int] = None
    timeout_s: float = 30.0
    max_queue: int = 4096
    max_inputs: int = 1024
    access_log: bool = False
    strict_inputs: bool = False
    grpc_port: Optional[int] = None
    header_timeout_s: float = 10.0
    max_connections: Optional[int] = None

    def __post_init__(self):
        checks = {
            "max_batch": self.max_batch >= 1, "batch_timeout_ms": self.batch_timeout_ms >= 0,
            "workers": self.workers >= 1, "max_body_bytes": self.max_body_bytes >= 1024,
            "max_pixels": self.max_pixels is None or self.max_pixels >= 1, "timeout_s": self.timeout_s > 0,
            "max_queue": self.max_queue >= self.max_batch, "max_inputs": self.max_inputs >= 1,
            "grpc_port": self.grpc_port is None or 0 <= self.grpc_port <= 65535,
            "port": 0 <= self.port <= 65535, "header_timeout_s": self.header_timeout_s > 0,
            "max_connections": self.max_connections is None or self.max_connections >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ServeError(f"invalid serve setting(s): {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}"
                             + (" (max_queue must be at least max_batch)" if "max_queue" in bad else ""))
        if self.name is not None and not NAME_PATTERN.match(self.name):
            raise ServeError(f"--name {self.name!r}: use letters, digits, '.', '_' or '-' (it is part of URLs)")
        if self.api_key is not None and not self.api_key.strip():
            raise ServeError("--api-key is empty")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeSettings":
        return cls(**json.loads(text))
