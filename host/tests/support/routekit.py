"""Plugin `routekit`: routes that read their input and refuse it only through the public
route kit (`enttok.routes`), with no error handling of their own, so what they answer is
what the host makes of it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok import JobContext, JobType, hookimpl
from enttok.plugin_host import plugin_host
from enttok.routes import ApiError, body, query

KNOWN = {"t1": {"thing_id": "t1", "name": "first"}}


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    count: int = Field(1, ge=0)
    tags: list[str] = []


class Listing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=100)


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def add_thing(request: Request) -> JSONResponse:
    thing = await body(request, Thing)
    return JSONResponse(thing.model_dump(), status_code=201)


async def list_things(request: Request) -> JSONResponse:
    listing = query(request, Listing)
    return JSONResponse({"things": list(KNOWN.values())[: listing.limit], "limit": listing.limit})


async def read_thing(request: Request) -> JSONResponse:
    thing_id = request.path_params["thing_id"]
    if thing_id not in KNOWN:
        raise ApiError(404, "thing_not_found", f"There is no thing {thing_id!r}.", field="thing_id")
    return JSONResponse(KNOWN[thing_id])


async def hold(request: Request) -> JSONResponse:
    """Submit a `routekit.hold` job; a full queue is left to the host to answer."""
    await body(request, Empty)
    job = await plugin_host(request, "routekit").submit("routekit.hold", {})
    return JSONResponse({"job_id": job["job_id"]}, status_code=201)


async def hold_until_canceled(ctx: JobContext, payload: BaseModel) -> None:
    await ctx.sleep(300)


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("routekit.hold", hold_until_canceled)]


@hookimpl
def enttok_routes() -> list[Route]:
    return [
        Route("/things", add_thing, methods=["POST"]),
        Route("/things", list_things, methods=["GET"]),
        Route("/things/{thing_id}", read_thing, methods=["GET"]),
        Route("/hold", hold, methods=["POST"]),
    ]
