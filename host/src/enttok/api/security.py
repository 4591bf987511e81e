"""`GuardMiddleware`: the checks every request passes before any route sees it.

Pure ASGI, so it guards HTTP and WebSocket alike, and plugin routes as much as the host's:
- a `Host` header other than `127.0.0.1:<port>` or `localhost:<port>` is 403 (DNS rebinding);
- an `Origin` not in BACKEND_ALLOWED_ORIGINS is 403 (a web page in a browser);
- a missing or wrong `X-Backend-Token` is 401 (for WebSockets also `?token=`), compared in
  constant time. Only `GET /health` goes without a token, and the plugin routes marked
  `documented(..., public=True)` (an OAuth callback the system browser reaches), also GET only;
- a body over `MAX_BODY` is 413: at once when its `Content-Length` says so, else as soon as
  that many bytes have streamed in, so a huge upload is never held in memory.

An allowed Origin gets CORS: its preflight (`OPTIONS` with `Access-Control-Request-Method`)
is answered here, token-free as browsers send it, and every answer to it, refusals included,
carries `Access-Control-Allow-Origin`, so the desktop renderer can `fetch` the host directly.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enttok.api.errors import error_response
from enttok.api.inputs import MAX_BODY, too_large

TOKEN_HEADER = b"x-backend-token"
PUBLIC_PATHS = frozenset({"/health"})
CORS_METHODS = b"GET, POST, PATCH, DELETE"
CORS_HEADERS = b"X-Backend-Token, Content-Type"
CORS_MAX_AGE = b"600"


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        allowed_origins: Collection[str],
        public_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self._token = token.encode()
        self._allowed_origins = frozenset(allowed_origins)
        self._public_paths = PUBLIC_PATHS | frozenset(public_paths)
        self._hosts: dict[int | None, tuple[bytes, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _guard_headers(scope["headers"], scope.get("method"))
        refusal = self._refusal(scope, headers)
        if scope["type"] == "websocket":
            if refusal is None:
                await self.app(scope, receive, send)
            else:  # closing before accepting makes the server answer the handshake with HTTP 403
                await send({"type": "websocket.close", "code": 1008, "reason": refusal[2]})
            return
        if headers.origin is not None and (refusal is None or refusal[0] == 401):
            send = _with_cors(send, headers.origin)  # the Origin passed: the browser may read the answer
            if refusal is None and headers.preflight:
                await _answer_preflight(send)
                return
        oversized = headers.declared_length > MAX_BODY
        if refusal is None and oversized:
            error = too_large()
            refusal = (error.status, error.code, error.message)
        if refusal is not None:
            # A body left unread is not worth reading past: close instead of draining it.
            closing = {"Connection": "close"} if oversized else None
            await error_response(*refusal, headers=closing)(scope, receive, send)
        else:
            await self.app(scope, _limited(receive), send)

    def _refusal(self, scope: Scope, headers: _GuardHeaders) -> tuple[int, str, str] | None:
        if headers.host not in self._allowed_hosts(scope):
            return 403, "forbidden_host", "The Host header does not name this host."
        if headers.origin is not None and headers.origin.decode("latin-1") not in self._allowed_origins:
            return 403, "forbidden_origin", "Requests from this Origin are not allowed."
        if (
            scope["type"] == "http"
            and scope["path"] in self._public_paths
            and scope["method"] in ("GET", "HEAD")
        ):
            return None
        if scope["type"] == "http" and headers.preflight and headers.origin is not None:
            return None  # a browser never sends the token on a preflight, and it carries no request
        if not self._token_matches(scope, headers.token):
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
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
            presented = query[0].encode() if query else None
        return presented is not None and hmac.compare_digest(presented, self._token)


class _GuardHeaders:
    """The first Host, Origin, X-Backend-Token and Content-Length values, in one pass over
    the raw headers (ASGI servers give header names in lower case)."""

    __slots__ = ("declared_length", "host", "origin", "preflight", "token")

    def __init__(self) -> None:
        self.host: bytes | None = None
        self.origin: bytes | None = None
        self.token: bytes | None = None
        self.declared_length = 0
        self.preflight = False


def _guard_headers(raw: Iterable[tuple[bytes, bytes]], method: str | None) -> _GuardHeaders:
    found = _GuardHeaders()
    for name, value in raw:
        if name == b"host":
            found.host = value if found.host is None else found.host
        elif name == b"origin":
            found.origin = value if found.origin is None else found.origin
        elif name == TOKEN_HEADER:
            found.token = value if found.token is None else found.token
        elif name == b"content-length" and value.isdigit():
            found.declared_length = max(found.declared_length, int(value))
        elif name == b"access-control-request-method":
            found.preflight = method == "OPTIONS"  # a CORS preflight, and nothing else, is one
    return found


def _with_cors(send: Send, origin: bytes) -> Send:
    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", b"Retry-After"),
                    (b"vary", b"Origin"),
                ],
            }
        await send(message)

    return send_with_cors


async def _answer_preflight(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (b"access-control-allow-methods", CORS_METHODS),
                (b"access-control-allow-headers", CORS_HEADERS),
                (b"access-control-max-age", CORS_MAX_AGE),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _limited(receive: Receive) -> Receive:
    """`receive` that stops a body at `MAX_BODY` bytes: the route reading it gets a 413."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise too_large()
        return message

    return receive_limited
