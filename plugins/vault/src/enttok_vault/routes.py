"""The vault's routes under `/plugins/vault/`: search, a note with its links, the daily note.

Blocking work (SQLite, the files, the embedding model) runs in Starlette's thread pool. Bad
input is a 4xx naming the field, in the host's error shape: read and refused through
`enttok.routes`, with the host's limits and checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok.api.openapi import documented
from enttok.plugin_host import PluginHost, plugin_host
from enttok.routes import ApiError, body, query
from enttok_vault.config import VaultConfig, VaultSettings

NAME = "vault"


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    q: str = Field(min_length=1, max_length=1000)
    mode: Literal["text", "vector", "hybrid"] = "hybrid"
    limit: int = Field(20, ge=1, le=200)
    folder: str | None = Field(None, max_length=1000)
    tag: str | None = Field(None, max_length=200)


class NoteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    path: str = Field(min_length=1, max_length=4096)


class DailyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    date: dt.date


class AppendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    date: dt.date
    text: str = Field(min_length=1, max_length=1_000_000)
    section: str | None = Field(None, max_length=200, description="A `## heading` put above the text.")
    expected_hash: str | None = Field(
        None, description="The note's hash as the caller read it; the append is refused (409) if it changed."
    )


@documented("Search a vault: full text, vectors or both", query=SearchQuery, errors=(404, 409, 422))
async def search_notes(request: Request) -> JSONResponse:
    """Search a vault's notes; each hit points to the heading it was found under."""
    host = plugin_host(request, NAME)
    asked = query(request, SearchQuery)
    vault = _vault(host, asked.vault_id)

    def run() -> dict[str, Any]:
        from enttok_vault import search, vectors

        connection = host.connect()
        try:
            model = vectors.model_for(connection, host.settings, vault.id)  # type: ignore[arg-type]
            return search.search(
                connection,
                model,
                search.Query(vault.id, asked.q, asked.mode, asked.limit, asked.folder, asked.tag),
            )
        except search.SearchError as error:
            raise ApiError(error.status, error.code, error.message, field=error.field) from None
        finally:
            connection.close()

    return JSONResponse(await run_in_threadpool(run))


@documented("A note's metadata, outgoing links and backlinks", query=NoteQuery, errors=(404, 422))
async def note(request: Request) -> JSONResponse:
    """A note's metadata, the notes it links to and the notes that link to it."""
    host = plugin_host(request, NAME)
    asked = query(request, NoteQuery)
    vault = _vault(host, asked.vault_id)

    def run() -> dict[str, Any]:
        from enttok_vault import notes

        connection = host.connect()
        try:
            found = notes.describe(connection, vault.id, asked.path)
        finally:
            connection.close()
        if found is None:
            raise ApiError(
                404, "note_not_found", f"no note {asked.path!r} in vault {vault.id!r}", field="path"
            )
        return found

    return JSONResponse(await run_in_threadpool(run))


@documented(
    "The daily note of a date (exists: false when there is none yet)",
    query=DailyQuery,
    errors=(404, 409, 422),
)
async def daily_read(request: Request) -> JSONResponse:
    """The daily note of a date, as it is on disk."""
    from enttok_vault import daily

    host = plugin_host(request, NAME)
    asked = query(request, DailyQuery)
    vault = _vault(host, asked.vault_id)
    found = await run_in_threadpool(_daily_call, daily.read, vault, asked.date)
    return JSONResponse(found.public())


@documented(
    "Create the daily note of a date from the template, unless it exists",
    body=DailyQuery,
    status=201,
    errors=(404, 409, 422),
)
async def daily_create(request: Request) -> JSONResponse:
    """The daily note of a date, created from the template if missing (201) or as it is (200)."""
    from enttok_vault import daily

    host = plugin_host(request, NAME)
    asked = await body(request, DailyQuery)
    vault = _vault(host, asked.vault_id)
    found = await run_in_threadpool(_daily_call, daily.create, vault, asked.date)
    if found.created:
        await _reindex(host, vault, found.path)
    return JSONResponse(found.public(), status_code=201 if found.created else 200)


@documented(
    "Append a section to the daily note, never over an edit made meanwhile",
    body=AppendBody,
    errors=(404, 409, 422),
)
async def daily_append(request: Request) -> JSONResponse:
    """Append text (under a heading) to the day's note, atomically, keeping concurrent edits."""
    from enttok_vault import daily

    host = plugin_host(request, NAME)
    asked = await body(request, AppendBody)
    vault = _vault(host, asked.vault_id)
    found = await run_in_threadpool(
        _daily_call, daily.append, vault, asked.date, asked.section, asked.text, asked.expected_hash
    )
    await _reindex(host, vault, found.path)
    return JSONResponse(found.public())


@documented("The configured vaults and how much of each is indexed")
async def vaults(request: Request) -> JSONResponse:
    """The configured vaults with their note count and index state."""
    host = plugin_host(request, NAME)
    settings = host.settings
    assert isinstance(settings, VaultSettings)

    def run() -> list[dict[str, Any]]:
        connection = host.connect()
        try:
            listed = []
            for vault in settings.vaults:
                notes_count = connection.execute(
                    "SELECT count(*) FROM vault_notes WHERE vault_id = ?", (vault.id,)
                ).fetchone()[0]
                state = connection.execute(
                    "SELECT scanned_at, rebuilt_at, model_override FROM vault_index WHERE vault_id = ?",
                    (vault.id,),
                ).fetchone()
                listed.append(
                    {
                        "id": vault.id,
                        "path": vault.path,
                        "exists": vault.root.is_dir(),
                        "notes": notes_count,
                        "scanned_at": state[0] if state else None,
                        "rebuilt_at": state[1] if state else None,
                        "embedding_model": (state[2] if state and state[2] else None)
                        or settings.embedding_model,
                    }
                )
            return listed
        finally:
            connection.close()

    return JSONResponse({"vaults": await run_in_threadpool(run)})


def routes() -> list[Route]:
    return [
        Route("/vaults", vaults, methods=["GET"]),
        Route("/search", search_notes, methods=["GET"]),
        Route("/note", note, methods=["GET"]),
        Route("/daily", daily_read, methods=["GET"]),
        Route("/daily", daily_create, methods=["POST"]),
        Route("/daily/append", daily_append, methods=["POST"]),
    ]


def _daily_call(function: Callable[..., Any], *args: Any) -> Any:
    from enttok_vault import daily

    try:
        return function(*args)
    except daily.Conflict as conflict:
        raise ApiError(
            409,
            "daily_note_changed",
            f"the daily note changed; its hash is now {conflict.current_hash}",
            field="expected_hash",
        ) from None
    except daily.NotText as error:
        raise ApiError(409, "daily_note_not_text", str(error), field="date") from None
    except OSError as error:
        raise ApiError(
            409, "daily_note_unwritable", f"the daily note could not be written: {error.strerror}"
        ) from None


async def _reindex(host: PluginHost, vault: VaultConfig, path: str) -> None:
    """Index the note now rather than wait for the watcher (which may be off)."""
    await host.submit("vault.index_update", {"vault_id": vault.id, "changed_paths": [path]})


def _vault(host: PluginHost, vault_id: str) -> VaultConfig:
    settings = host.settings
    vault = settings.vault(vault_id) if isinstance(settings, VaultSettings) else None
    if vault is None:
        raise ApiError(404, "unknown_vault", f"no vault with id {vault_id!r}", field="vault_id")
    if not vault.root.is_dir():
        raise ApiError(
            409, "vault_missing", f"the vault folder {vault.path} does not exist", field="vault_id"
        )
    return vault
