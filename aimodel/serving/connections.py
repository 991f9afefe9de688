"""Connection limits of ``aimodel serve``, below the HTTP app: header-read timeout, a cap on open connections.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but never one that is slow to send
its headers, and it accepts connections until the process runs out of file descriptors; then ``accept()``
fails, ``/healthz`` is never answered, and asyncio logs "Too many open files" for every attempt. Here:

- :class:`GuardedH11Protocol` (uvicorn's h11 protocol) closes a connection whose request headers are not
  complete within ``header_timeout_s`` of its connection or of the first byte of a keep-alive request,
  and one that goes on sending a body after its answer went out;
- past :func:`connection_cap` open connections, a new one is answered 503 at once and closed, so the
  process keeps file descriptors for the connections it serves, its files and ``accept()``;
- :class:`AcceptErrorFilter` lets asyncio's "socket.accept() out of system resource" through once per
  interval, with the number of those it held back.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection stays open after its last answer (uvicorn's own setting).
KEEP_ALIVE_S = 5
#: Share of the file descriptors left free at start that connections may hold; the rest is for the files
#: a request opens (uploads over 1 MB spool to a temporary file, the page's files) and for accept() itself.
CONNECTION_SHARE = 0.75
#: How long a refused connection has to read its 503 before it is closed.
REFUSE_LINGER_S = 1.0
ACCEPT_ERROR = "socket.accept() out of system resource"
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
           b"retry-after: 1\r\nconnection: close\r\n\r\n%s")
BUSY = b'{"error": "the server has as many connections open as it takes (aimodel serve --max-connections); retry"}'


@dataclass
class ConnectionLimits:
    """The limits of this process's connections (set once by :func:`configure`)."""

    header_timeout_s: float = 10.0
    #: most open connections; None: :data:`CONNECTION_SHARE` of the file descriptors free at the first one
    max_connections: Optional[int] = None
    _cap: Optional[int] = None

    def cap(self) -> int:
        if self._cap is None:
            self._cap = connection_cap(self.max_connections)
        return self._cap


LIMITS = ConnectionLimits()


def configure(header_timeout_s: float, max_connections: Optional[int]) -> None:
    """Set this process's connection limits and hold back repeated accept() errors in the log."""
    global LIMITS
    LIMITS = ConnectionLimits(header_timeout_s, max_connections)
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, AcceptErrorFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(AcceptErrorFilter())


def open_files() -> int:
    """File descriptors this process has open now (0 where the system does not list them)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return 0


def connection_cap(requested: Optional[int] = None) -> int:
    """Most connections this process can hold with file descriptors to spare: ``requested`` if it fits."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        soft = -1
    if soft < 0 or soft == getattr(resource, "RLIM_INFINITY", -1):
        return requested or 10_000
    fits = max(1, int((soft - open_files()) * CONNECTION_SHARE))
    if requested is not None and requested > fits:
        log.warning("--max-connections %d lowered to %d: the open-file limit is %d (raise it with ulimit -n)",
                    requested, fits, soft)
    return min(requested, fits) if requested is not None else fits


class AcceptErrorFilter(logging.Filter):
    """Passes asyncio's accept() resource error once per ``interval_s``; counts the others into the next one."""

    def __init__(self, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self.last: Optional[float] = None
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(ACCEPT_ERROR):
            return True
        now = self.clock()
        if self.last is not None and now - self.last < self.interval_s:
            self.held += 1
            return False
        if self.held:
            record.msg = f"{record.msg}\n({self.held} more like it in the last {now - self.last:.0f} s were not logged)"
        self.last, self.held = now, 0
        if record.exc_info and record.exc_info[1] is not None:  # one line, naming the error, no traceback
            record.msg = f"{record.msg} ({record.exc_info[1]})"
        record.exc_info = None
        return True


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout and a cap on open connections (:data:`LIMITS`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timer = None
        self.refused = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > LIMITS.cap():
            self.refuse()
        else:
            self.arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)
        if not self.waiting_on_client():  # the headers are in: the app and its request timeout take over
            self.disarm_header_timer()
        elif self.header_timer is None and not self.transport.is_closing():
            self.arm_header_timer()  # the first bytes of the next request on a keep-alive connection

    def waiting_on_client(self) -> bool:
        """Whether only the client can move this connection on: its headers are incomplete, or it still
        sends a body after the answer went out (an endpoint that never reads it; a 504)."""
        if self.conn.their_state is h11.IDLE:
            return True
        return self.cycle is not None and self.cycle.response_complete and self.conn.their_state is h11.SEND_BODY

    def connection_lost(self, exc) -> None:
        self.disarm_header_timer()
        super().connection_lost(exc)

    def arm_header_timer(self) -> None:
        self.header_timer = self.loop.call_later(LIMITS.header_timeout_s, self.headers_too_slow)

    def disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing() and self.waiting_on_client():
            log.debug("closed a connection whose request took over %g s to arrive", LIMITS.header_timeout_s)
            self.transport.close()

    def refuse(self) -> None:
        """503 and close: half-close first, so the client reads the answer rather than a reset."""
        self.refused = True
        self.transport.write(REFUSED % (len(BUSY), BUSY))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(REFUSE_LINGER_S, self.transport.close)
