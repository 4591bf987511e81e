"""`FakeUpstream`: a connector's upstream API, faked on a loopback port.

You write the routes your connector calls (from the real API's documentation); the kit
serves them with uvicorn in a thread, so the connector's real HTTP client goes over a real
socket, and adds what every upstream has: OAuth refresh-token rotation, bearer checks, and
faults injected on demand (5xx, 429 with `Retry-After`, dropped connections, slow and
malformed responses, a request held until the test lets it go).

An upstream whose sign-in or headers differ from the built-in OAuth (a client-credentials
grant, an API key, its own token endpoint) is served whole: `FakeUpstream(app=your_asgi_app)`
keeps the faults and the request log and adds nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class Clock:
    """Time as the fake upstream sees it; `advance` moves it on without waiting."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    at: float
    query: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    """The fault injected into this request: the name of the method that asked for it
    (`"fail"`, `"rate_limit"`, `"drop_connection"`, `"malformed"`, `"slow"`), else None."""
    arrived: float = 0.0
    """When the request reached the fake; `at` is when it was answered, later for a held one."""


@dataclass
class Hold:
    """A request parked by `FakeUpstream.hold` until `release()` (or `FakeUpstream.stop()`,
    so a test that fails while a request is parked does not leave the server waiting)."""

    path: str | None
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    _waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=list, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def release(self) -> None:
        """Let the parked request (and any that arrives for this hold later) through."""
        with self._lock:
            self.released.set()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the server's loop has already closed
                loop.call_soon_threadsafe(event.set)

    async def _wait(self) -> None:
        """Park on the server's loop, not in a thread: a thread blocked on an event nobody
        sets would keep the interpreter from exiting after the tests."""
        event = asyncio.Event()
        with self._lock:
            if self.released.is_set():
                return
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


@dataclass
class _Fault:
    kind: str  # the FakeUpstream method that injected it, recorded with the request
    times: int
    path: str | None
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    hold: Hold | None = None
    skip: int = 0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.up.set()


class FakeUpstream:
    """Serve `routes` on 127.0.0.1; use as a context manager or call start()/stop().

    `routes` are Starlette routes served beside the built-in OAuth token endpoint
    (`POST /oauth/token`; `oauth=False` leaves it out). `app` instead serves a whole ASGI app
    of your own (its own sign-in, headers and errors) with nothing added but the faults and
    the request log; give one or the other. A route finds this object as
    `request.app.state.upstream` (for an `app` with a `state`, as Starlette's has).
    """

    def __init__(
        self,
        routes: Sequence[BaseRoute] = (),
        *,
        app: ASGIApp | None = None,
        oauth: bool = True,
        access_token_ttl: float = 3600.0,
    ) -> None:
        if app is not None and routes:
            raise ValueError("FakeUpstream serves routes or an app, not both")
        self.clock = Clock()
        self.access_token_ttl = access_token_ttl
        self.requests: list[Recorded] = []
        self.issued: list[str] = []
        """Every token this upstream handed out, for leak checks (a wrapped app may append its own)."""
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        if app is None:
            token_endpoint = [Route("/oauth/token", self._token, methods=["POST"])] if oauth else []
            app = Starlette(routes=[*token_endpoint, *routes])
        state = getattr(app, "state", None)
        if state is not None:
            state.upstream = self
        self.app: ASGIApp = _FaultMiddleware(app, self)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life cycle

    def start(self) -> FakeUpstream:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        self._server = _Server(
            uvicorn.Config(
                self.app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=5
            )
        )
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]}, daemon=True)
        self._thread.start()
        if not self._server.up.wait(10):
            raise RuntimeError("the fake upstream did not start in 10s")
        return self

    def stop(self) -> None:
        """Release every held request, then stop serving."""
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path)]

    # -- OAuth: refresh tokens rotate on every use, access tokens expire

    def new_refresh_token(self) -> str:
        token = "refresh-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh.add(token)
            self.issued.append(token)
        return token

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far stops working (as if its hour had passed)."""
        with self._lock:
            self._access.clear()

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token, or every one handed out so far (the user withdrew the
        app's access): the token endpoint refuses it with `400 invalid_grant`. Access tokens
        already issued work on until `expire_access_tokens()`, as with most providers."""
        with self._lock:
            if refresh_token is None:
                self._refresh.clear()
            else:
                self._refresh.discard(refresh_token)

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self._lock:
            expiry = self._access.get(token)
        return expiry is not None and expiry > self.clock.now()

    @property
    def refreshes(self) -> int:
        return len(self.requests_to("/oauth/token"))

    async def _token(self, request: Request) -> JSONResponse:
        raw = (await request.body()).decode()
        form = dict(parse_qsl(raw)) if "form" in request.headers.get("content-type", "") else json.loads(raw)
        presented = form.get("refresh_token")
        with self._lock:
            if form.get("grant_type") != "refresh_token" or presented not in self._refresh:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self._refresh.discard(presented)
        access, refresh = "access-" + secrets.token_urlsafe(24), self.new_refresh_token()
        with self._lock:
            self._access[access] = self.clock.now() + self.access_token_ttl
            self.issued.append(access)
        body = {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(self.access_token_ttl),
            "token_type": "Bearer",
        }
        return JSONResponse(body)

    # -- faults: each applies to the next `times` requests (to `path`, when given)

    def fail(
        self, status: int = 503, *, times: int = 1, path: str | None = None, retry_after: float | None = None
    ) -> None:
        self._add(_Fault("fail", times, path, status=status, retry_after=retry_after))

    def rate_limit(self, retry_after: float = 2.0, *, times: int = 1, path: str | None = None) -> None:
        self._add(_Fault("rate_limit", times, path, status=429, retry_after=retry_after))

    def drop_connection(self, *, times: int = 1, path: str | None = None) -> None:
        self._add(_Fault("drop_connection", times, path))

    def malformed(self, *, times: int = 1, path: str | None = None) -> None:
        self._add(_Fault("malformed", times, path))

    def slow(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        self._add(_Fault("slow", times, path, seconds=seconds))

    def hold(self, path: str | None = None, *, after: int = 0) -> Hold:
        """Let `after` requests (to `path`) through, then park the next one until `release()`;
        `reached` is set when it arrives."""
        hold = Hold(path)
        with self._lock:
            self._holds.append(hold)
        self._add(_Fault("hold", 1, path, hold=hold, skip=after))
        return hold

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, scope: Scope, status: int, fault: str | None, arrived: float) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        recorded = Recorded(scope["method"], scope["path"], status, time.time(), query, fault, arrived)
        with self._lock:
            self.requests.append(recorded)


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, upstream: FakeUpstream) -> None:
        self.app = app
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.time()
        fault = self.upstream._take(scope["path"])
        if fault is not None and fault.kind == "hold" and fault.hold is not None:
            fault.hold.reached.set()
            await fault.hold._wait()
            fault = None
        if fault is None or fault.kind == "slow":
            if fault is not None:
                await asyncio.sleep(fault.seconds)
            kind = fault.kind if fault else None
            await self.app(scope, receive, _recording(send, self.upstream, scope, kind, arrived))
            return
        answers_status = fault.kind in ("fail", "rate_limit")
        self.upstream._record(scope, fault.status if answers_status else 200, fault.kind, arrived)
        if answers_status:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            await JSONResponse({"error": "injected"}, fault.status, headers=headers)(scope, receive, send)
        elif fault.kind == "malformed":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"items": [ {"truncated'})
        elif fault.kind == "drop_connection":
            # Start a response, then fail: the server closes the connection mid-response.
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
            )
            raise ConnectionResetError("injected connection drop")


def _recording(send: Send, upstream: FakeUpstream, scope: Scope, fault: str | None, arrived: float) -> Send:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            upstream._record(scope, message["status"], fault, arrived)
        await send(message)

    return wrapped
