"""Plugin `extras`: a migration, routes, schedules (one on by default, one off, one slow),
settings, and start-up/shutdown hooks that leave a trace in its cache dir."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok import JobContext, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost, plugin_host

TICK = 0.3


async def noop(ctx: JobContext, payload: BaseModel) -> None:
    return None


async def slow(ctx: JobContext, payload: BaseModel) -> None:
    await asyncio.sleep(1.5)


async def list_items(request: Request) -> JSONResponse:
    connection = plugin_host(request, "extras").connect()
    try:
        rows = connection.execute("SELECT id, name FROM extras_items ORDER BY id").fetchall()
    finally:
        connection.close()
    return JSONResponse({"items": [{"id": row[0], "name": row[1]} for row in rows]})


async def add_item(request: Request) -> JSONResponse:
    body = await request.json()
    connection = plugin_host(request, "extras").connect()
    try:
        connection.execute("INSERT INTO extras_items (name) VALUES (?)", (body["name"],))
    finally:
        connection.close()
    return JSONResponse({"added": body["name"]}, status_code=201)


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType("extras.tick", noop),
        JobType("extras.off", noop),
        JobType("extras.slow", slow),
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    return [
        Schedule("tick", "extras.tick", interval=TICK),
        Schedule("off", "extras.off", interval=TICK, enabled=False),
        Schedule("slow", "extras.slow", interval=TICK / 2),
    ]


@hookimpl
def enttok_routes() -> list[Route]:
    return [
        Route("/items", list_items, methods=["GET"]),
        Route("/items", add_item, methods=["POST"]),
    ]


@hookimpl
def enttok_migrations() -> list[Migration]:
    # Not `IF NOT EXISTS`, and it seeds a row: applied twice, it would fail or duplicate.
    return [
        Migration(
            1,
            "CREATE TABLE extras_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
            " INSERT INTO extras_items (name) VALUES ('seed');",
            "items",
        )
    ]


class ExtrasSettings(BaseModel):
    greeting: str = Field("hello", min_length=1)


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return ExtrasSettings


def _trace(host: PluginHost, line: str) -> None:
    with open(host.cache_dir / "lifecycle.log", "a") as trace:
        trace.write(line + "\n")


@hookimpl
async def enttok_startup(host: PluginHost) -> None:
    _trace(host, f"startup greeting={host.settings.greeting}")


@hookimpl
async def enttok_shutdown(host: PluginHost) -> None:
    _trace(host, "shutdown")
