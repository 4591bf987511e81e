"""The routes under `/plugins/claude/`: the CLI check, sessions (seed 004's `/claude/session`
and `/claude/spawn`) and journal suggestions.

SQLite work runs in Starlette's thread pool. Bad input is a 4xx naming the field, in the
host's error shape `{"error": {"code", "message", "details"}}`: read and refused through
`enttok.routes`, with the host's limits and checks; a full queue is the host's 429.

The host imports this module when it starts, so the store and the CLI runner are imported by
the handlers that use them, on the first request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok import PermanentError
from enttok.api.openapi import documented
from enttok.plugin_host import PluginHost, plugin_host
from enttok.routes import ApiError, body, query
from enttok_claude.models import ClaudeSettings, RunPayload, SessionBody, Strict

NAME = "claude"


class ListQuery(Strict):
    limit: int = Field(50, ge=1, le=500)


class SuggestionQuery(ListQuery):
    date: dt.date | None = Field(None, description="Only the suggestions for this day.")


class Check(BaseModel):
    model_config = ConfigDict(defer_build=True)

    found: bool
    binary: str | None
    version: str | None
    error: str | None = Field(description="Why Claude cannot run, in a sentence; null when it can.")


class Spawned(BaseModel):
    model_config = ConfigDict(defer_build=True)

    job_id: str
    session_id: str
    status: str


def _settings(host: PluginHost) -> ClaudeSettings:
    return host.settings if isinstance(host.settings, ClaudeSettings) else ClaudeSettings()


async def _in_db(host: PluginHost, work: Callable[..., Any], *args: Any) -> Any:
    def run() -> Any:
        connection = host.connect()
        try:
            with connection:
                return work(connection, *args)
        finally:
            connection.close()

    return await run_in_threadpool(run)


@documented("Whether the Claude CLI can run: where it is and its version", response=Check)
async def check(request: Request) -> JSONResponse:
    """Found or not, with the reason in a sentence; never an error status."""
    from enttok_claude import process

    host = plugin_host(request, NAME)
    try:
        binary = process.locate(_settings(host).binary)
    except PermanentError as error:
        return JSONResponse({"found": False, "binary": None, "version": None, "error": error.message})
    try:
        version = await process.version(binary)
    except PermanentError as error:
        return JSONResponse({"found": False, "binary": binary, "version": None, "error": error.message})
    return JSONResponse({"found": True, "binary": binary, "version": version, "error": None})


@documented(
    "Start a new conversation with Claude (runs go into it with /spawn)",
    body=SessionBody,
    status=201,
    errors=(400, 415, 422),
)
async def new_session(request: Request) -> JSONResponse:
    from enttok_claude import store

    host = plugin_host(request, NAME)
    asked = await body(request, SessionBody)
    session = await _in_db(
        host,
        lambda connection: store.new_session(
            connection, title=asked.title, model=asked.model, cwd=asked.cwd, allowed_tools=asked.allowed_tools
        ),
    )
    return JSONResponse(session, status_code=201)


@documented("Claude sessions, the latest first", query=ListQuery, errors=(422,))
async def list_sessions(request: Request) -> JSONResponse:
    from enttok_claude import store

    host = plugin_host(request, NAME)
    asked = query(request, ListQuery)
    return JSONResponse({"sessions": await _in_db(host, store.list_sessions, asked.limit)})


@documented("One session with its runs, oldest first", errors=(404,))
async def read_session(request: Request) -> JSONResponse:
    from enttok_claude import store

    host = plugin_host(request, NAME)
    session_id = request.path_params["session_id"]

    def read(connection: Any) -> dict[str, Any] | None:
        session = store.get_session(connection, session_id)
        return session and {**session, "runs": store.session_runs(connection, session_id)}

    session = await _in_db(host, read)
    if session is None:
        raise ApiError(404, "not_found", f"There is no Claude session {session_id!r}.", field="session_id")
    return JSONResponse(session)


@documented(
    "Run Claude for a prompt (a `claude.run` job), in the session named or a new one",
    body=RunPayload,
    response=Spawned,
    status=201,
    errors=(400, 404, 415, 422, 429),
)
async def spawn(request: Request) -> JSONResponse:
    from enttok_claude import store
    from enttok_claude.stream import clip

    host = plugin_host(request, NAME)
    asked = await body(request, RunPayload)
    if asked.session_id is None:
        session = await _in_db(
            host,
            lambda connection: store.new_session(
                connection,
                title=clip(asked.prompt, 80),
                model=asked.model,
                cwd=asked.cwd,
                allowed_tools=asked.allowed_tools,
            ),
        )
    else:
        session = await _in_db(host, store.get_session, asked.session_id)
        if session is None:
            raise ApiError(
                404, "not_found", f"There is no Claude session {asked.session_id!r}.", field="session_id"
            )
    payload = {**asked.model_dump(mode="json", exclude_none=True), "session_id": session["session_id"]}
    job = await host.submit("claude.run", payload)  # a full queue (QueueFull) is the host's 429
    return JSONResponse(
        {"job_id": job["job_id"], "session_id": session["session_id"], "status": job["status"]},
        status_code=201,
    )


@documented("Journal suggestions, the latest day first", query=SuggestionQuery, errors=(422,))
async def list_suggestions(request: Request) -> JSONResponse:
    from enttok_claude import store

    host = plugin_host(request, NAME)
    asked = query(request, SuggestionQuery)
    day = asked.date.isoformat() if asked.date else None
    return JSONResponse({"suggestions": await _in_db(host, store.list_suggestions, day, asked.limit)})


@documented("One journal suggestion", errors=(404,))
async def read_suggestion(request: Request) -> JSONResponse:
    from enttok_claude import store

    host = plugin_host(request, NAME)
    suggestion_id = request.path_params["suggestion_id"]
    suggestion = await _in_db(host, store.get_suggestion, suggestion_id)
    if suggestion is None:
        raise ApiError(404, "not_found", f"There is no suggestion {suggestion_id!r}.", field="suggestion_id")
    return JSONResponse(suggestion)


routes = [
    Route("/check", check, methods=["GET"]),
    Route("/session", new_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", read_session, methods=["GET"]),
    Route("/spawn", spawn, methods=["POST"]),
    Route("/suggestions", list_suggestions, methods=["GET"]),
    Route("/suggestions/{suggestion_id}", read_suggestion, methods=["GET"]),
]
