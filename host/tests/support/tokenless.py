"""Plugin `tokenless`: one route marked `documented(..., public=True)` (what an OAuth
callback opened by the system browser needs), beside routes that are not."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from enttok import hookimpl
from enttok.api.openapi import documented


@documented("Reached by a browser, without the token", public=True)
async def callback(request: Request) -> PlainTextResponse:
    return PlainTextResponse("you can close this tab")


@documented("A public mark on a path with parameters opens nothing", public=True)
async def with_parameter(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["name"])


async def private(request: Request) -> PlainTextResponse:
    """Needs the token, as every plugin route does unless marked."""
    return PlainTextResponse("private")


@hookimpl
def enttok_routes() -> list[Route]:
    return [
        Route("/callback", callback, methods=["GET", "POST"]),
        Route("/callback/{name}", with_parameter, methods=["GET"]),
        Route("/private", private, methods=["GET"]),
    ]
