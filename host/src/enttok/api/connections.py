"""`BoundedHttpProtocol`: uvicorn's HTTP protocol with the bounds a local server needs.

uvicorn times out an idle keep-alive connection, but not one that never finishes a
request: a socket that connects and sends nothing, or sends its headers a byte at a time,
stays open for good, and about a thousand of them use up the process's file descriptors,
locking the app out. Here:
- a request's headers must be complete `HEADER_TIMEOUT` seconds after the connection opens
  (or after the previous response), or the connection is closed;
- past `connection_cap()` open connections (the soft open-file limit less a reserve for the
  database, logs and plugins), a new connection is answered 503 and closed at once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

HEADER_TIMEOUT = 10.0
#: Descriptors kept for everything but connections: at least this many, or an eighth.
RESERVED_FILES = 64

_BUSY_BODY = json.dumps(
    {
        "error": {
            "code": "too_many_connections",
            "message": "The host has too many open connections; try again shortly.",
            "details": None,
        }
    }
).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


def connection_cap() -> int:
    """How many connections may be open at once, from the current soft open-file limit."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to stay under
        return 100_000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(16, soft - max(RESERVED_FILES, soft // 8))


class BoundedHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own protocol (httptools or h11, whichever it picked), with a deadline for
    each request's headers and a cap on open connections."""

    _request_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if len(self.connections) > connection_cap():
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._await_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
        super().connection_lost(exc)

    def _await_request(self) -> None:
        """Close the connection unless a new request's headers arrive within HEADER_TIMEOUT
        (uvicorn makes a new `cycle` for each request once its headers are complete)."""
        if self._request_deadline is not None:
            self._request_deadline.cancel()
        self._request_deadline = self.loop.call_later(HEADER_TIMEOUT, self._close_if_waiting, self.cycle)

    def _close_if_waiting(self, cycle_then: object) -> None:
        self._request_deadline = None
        upgraded = self.transport.get_protocol() is not self  # now a WebSocket: not ours to close
        if self.cycle is cycle_then and not upgraded and not self.transport.is_closing():
            self.transport.close()
