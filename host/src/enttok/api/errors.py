"""Every error leaves the host as `{"error": {"code", "message", "details"}}`, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from enttok.api.responses import JSONResponse
from enttok.queue import QueueFull
from enttok.store_faults import StoreUnavailable

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


class ApiError(Exception):
    """Raised anywhere in a route (the host's or a plugin's: they share the app's handlers) to
    answer `status` with `{"error": {"code", "message", "details"}}`. `field` names the input
    at fault when `details` is not given, so a 4xx says which field to fix."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        if details is None and field is not None:
            details = [{"field": field, "message": message}]
        self.status, self.code, self.message, self.details, self.headers = (
            status,
            code,
            message,
            details,
            headers,
        )


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def invalid(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> ApiError:
    """A 422 naming every offending field, e.g. `payload.seconds`."""
    problems = [
        {
            "field": ".".join(str(part) for part in (*prefix, *e["loc"])),
            "message": e["msg"],
            "type": e["type"],
        }
        for e in error.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
    return ApiError(422, "invalid_input", f"Invalid input: {summary}.", problems)


async def api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.code, error.message, error.details, error.headers)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    headers = error.headers
    if error.status_code == 404:
        message = f"No route {request.method} {request.url.path}."
    elif error.status_code == 405:
        # From the app's root: inside a Mount the scope's root_path already names the mount.
        scope = {**request.scope, "root_path": request.scope.get("app_root_path", "")}
        allowed = allowed_methods(request.app.router.routes, scope)
        headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        message = f"{request.method} is not allowed here; use {' or '.join(sorted(allowed))}."
    return error_response(error.status_code, code, message, headers=headers)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route serves at this path: GET and POST of one path may be two routes."""
    allowed: set[str] = set()
    for route in routes:
        match, child = route.matches({**scope, "method": "OPTIONS"})
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            allowed |= allowed_methods(route.routes, {**scope, **child})
        elif isinstance(route, Route):
            allowed |= set(route.methods or ())
    return allowed


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    # The server closes the connection after an unhandled error: say so, or the client
    # sends its next request on a connection that is about to go away.
    return error_response(
        500,
        "internal_error",
        "The host failed to handle this request; see its log.",
        headers={"Connection": "close"},
    )


async def store_unavailable(request: Request, error: Exception) -> JSONResponse:
    """The database refused for a reason outside the request (a lock held elsewhere, a full
    disk, a deleted file): 503 or 507 with its code, and when to try again."""
    assert isinstance(error, StoreUnavailable)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return error_response(error.status, error.code, str(error), headers=headers)


async def queue_full(request: Request, error: Exception) -> JSONResponse:
    """The queue holds its maximum of waiting jobs: 429 and a second's wait, from `POST /jobs`
    or a plugin's route alike."""
    return error_response(
        429, "queue_full", "The queue is full; try again shortly.", headers={"Retry-After": "1"}
    )


HANDLERS = {
    ApiError: api_error,
    QueueFull: queue_full,
    HTTPException: http_error,
    StoreUnavailable: store_unavailable,
    Exception: unexpected_error,
}
