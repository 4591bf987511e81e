"""Health, status, plugins, settings, the activity timeline and the OpenAPI document."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.routing import Route

from enttok import __version__, clock
from enttok.api import inputs, openapi
from enttok.api.errors import ApiError
from enttok.api.models import (
    ActivityList,
    ActivityQuery,
    Health,
    PluginList,
    SettingsChange,
    SettingsView,
    Status,
)
from enttok.api.openapi import documented
from enttok.api.responses import JSONResponse
from enttok.host import Host
from enttok.settings import SettingsError


def _host(request: Request) -> Host:
    return request.app.state.host


@documented(
    "Liveness and health (503, same body, when the host cannot go on); the only route that needs no token",
    response=Health,
    public=True,
)
async def health(request: Request) -> JSONResponse:
    """`ok`, `degraded` (a fault named in `fault` that the host retries: 200, reads work) or
    `error` (503: it cannot go on, say a deleted database, and takes no more work)."""
    view = _host(request).health.view()
    return JSONResponse(
        {"status": view["status"], "version": __version__, "fault": view["fault"]},
        status_code=503 if view["status"] == "error" else 200,
    )


@documented("Queue, workers, scheduler and plugins at a glance", response=Status)
async def status(request: Request) -> JSONResponse:
    return JSONResponse(_host(request).status())


@documented(
    "Every discovered plugin, loaded or failed, with its job types' JSON Schemas", response=PluginList
)
async def plugins(request: Request) -> JSONResponse:
    host = _host(request)
    return JSONResponse({"plugins": [host.describe_plugin(r) for r in host.plugins.records.values()]})


@documented("Host and plugin settings (secrets show only whether they are set)", response=SettingsView)
async def get_settings(request: Request) -> JSONResponse:
    return JSONResponse(_host(request).settings.public())


@documented(
    "Validate and save settings; nothing is saved if any field is invalid",
    body=SettingsChange,
    response=SettingsView,
    errors=(400, 422, 503, 507),
)
async def post_settings(request: Request) -> JSONResponse:
    change = await inputs.body(request, SettingsChange)
    host = _host(request)
    changes = change.model_dump(exclude_none=True)
    try:
        await host.database.write_patiently(lambda: host.update_settings(changes))
    except SettingsError as error:
        problems = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in error.errors]
        raise ApiError(422, "invalid_input", f"Invalid settings: {error}.", problems) from None
    return JSONResponse(host.settings.public())


@documented(
    "The shared activity timeline, newest first", query=ActivityQuery, response=ActivityList, errors=(422,)
)
async def activity(request: Request) -> JSONResponse:
    query = inputs.query(request, ActivityQuery)
    clauses, params = [], []
    if query.from_ is not None:
        clauses.append("event_time >= ?")
        params.append(clock.iso(query.from_))
    if query.to is not None:
        clauses.append("event_time < ?")
        params.append(clock.iso(query.to))
    for column in ("source", "account_id"):
        if (value := getattr(query, column)) is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = _host(request).database.connection.execute(
        "SELECT event_id, source, account_id, event_type, title, description, url, actor, event_time, raw_json"
        f" FROM activity_events{where} ORDER BY event_time DESC, event_id LIMIT ?",
        (*params, query.limit),
    )
    events = [
        {
            **{key: row[key] for key in row.keys() if key != "raw_json"},  # noqa: SIM118 - a sqlite3.Row
            "raw": json.loads(row["raw_json"] or "null"),
        }
        for row in rows
    ]
    return JSONResponse({"events": events})


async def openapi_document(request: Request) -> JSONResponse:
    """This document: every route, the plugins' included."""
    app = request.app
    if getattr(app.state, "openapi", None) is None:
        app.state.openapi = openapi.build(app.routes, __version__)
    return JSONResponse(app.state.openapi)


probes = [
    Route("/health", health, methods=["GET"]),
    Route("/status", status, methods=["GET"]),
]
"""The routes the app polls all the time; `create_app` puts them first."""

routes = [
    Route("/plugins", plugins, methods=["GET"]),
    Route("/settings", get_settings, methods=["GET"]),
    Route("/settings", post_settings, methods=["POST"]),
    Route("/activity/events", activity, methods=["GET"]),
    Route("/openapi.json", openapi_document, methods=["GET"]),
]
