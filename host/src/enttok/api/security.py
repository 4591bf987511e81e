"""`GuardMiddleware`: the checks every request passes before any route sees it.

Pure ASGI, so it guards HTTP and WebSocket alike, and plugin routes as much as the host's:
- a `Host` header other than `127.0.0.1:<port>` or `localhost:<port>` is 403 (DNS rebinding);
- an `Origin` not in BACKEND_ALLOWED_ORIGINS is 403 (a web page in a browser);
- a missing or wrong `X-Backend-Token` is 401 (for WebSockets also `?token=`), compared in
  constant time. Only `GET /health` goes without a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from enttok.api.errors import error_response

TOKEN_HEADER = b"x-backend-token"
PUBLIC_PATHS = frozenset({"/health"})


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, token: str, allowed_origins: Collection[str]) -> None:
        self.app = app
        self._token = token.encode()
        self._allowed_origins = frozenset(allowed_origins)
        self._hosts: dict[int | None, tuple[bytes, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            # Closing before accepting makes the server answer the handshake with HTTP 403.
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[2]})
        else:
            await error_response(*refusal)(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        host, origin, presented = _guard_headers(scope["headers"])
        if host not in self._allowed_hosts(scope):
            return 403, "forbidden_host", "The Host header does not name this host."
        if origin is not None and origin.decode("latin-1") not in self._allowed_origins:
            return 403, "forbidden_origin", "Requests from this Origin are not allowed."
        if scope["type"] == "http" and scope["path"] in PUBLIC_PATHS and scope["method"] in ("GET", "HEAD"):
            return None
        if not self._token_matches(scope, presented):
            return 401, "unauthorized", "A valid X-Backend-Token header is required."
        return None

    def _allowed_hosts(self, scope: Scope) -> tuple[bytes, bytes]:
        """The two Host values that name this server, built once per port."""
        port = scope["server"][1] if scope.get("server") else None
        hosts = self._hosts.get(port)
        if hosts is None:
            hosts = self._hosts[port] = (
                f"127.0.0.1:{port}".encode("latin-1"),
                f"localhost:{port}".encode("latin-1"),
            )
        return hosts

    def _token_matches(self, scope: Scope, presented: bytes | None) -> bool:
        if presented is None and scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode()).get("token", [])
            presented = query[0].encode() if query else None
        return presented is not None and hmac.compare_digest(presented, self._token)


def _guard_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None, bytes | None]:
    """The first Host, Origin and X-Backend-Token values, in one pass over the raw headers
    (ASGI servers give header names in lower case)."""
    host = origin = token = None
    for name, value in headers:
        if name == b"host":
            host = value if host is None else host
        elif name == b"origin":
            origin = value if origin is None else origin
        elif name == TOKEN_HEADER:
            token = value if token is None else token
    return host, origin, token
