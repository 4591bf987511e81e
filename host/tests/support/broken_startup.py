"""A plugin that imports and migrates fine but whose `enttok_startup` raises: its job types
and its routes must both be withdrawn."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok import JobContext, JobType, hookimpl
from enttok.plugin_host import PluginHost


async def noop(ctx: JobContext, payload: BaseModel) -> None:
    return None


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"pong": True})


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("broken_startup.noop", noop)]


@hookimpl
def enttok_routes() -> list[Route]:
    return [Route("/ping", ping, methods=["GET"])]


@hookimpl
async def enttok_startup(host: PluginHost) -> None:
    raise RuntimeError("the tracker's base URL is not configured")
