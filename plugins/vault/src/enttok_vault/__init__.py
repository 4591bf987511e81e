"""enttok-vault: the Markdown notes vault: scan, full-text and vector search, the daily note.

- `vault.scan` `{vault_id, since?, force_full?}`: the vault's notes into `vault_notes`,
  `vault_links`, `vault_tags` and the search index; only changed files are read again.
- `vault.index_rebuild` `{vault_id, embedding_model?}`: the vault's index dropped and built again.
- `vault.index_update` `{vault_id, changed_paths, deleted_paths}`: those notes, and no others.
- Routes under `/plugins/vault/`: `vaults`, `search`, `note`, `daily`, `daily/append`.

The host imports this module at start-up, so it declares and nothing more: the parsers, the
embedding model, numpy and watchfiles load with the first job or request that needs them.
"""

from __future__ import annotations

import asyncio
import threading

from pydantic import BaseModel
from starlette.routing import Route

from enttok import JobType, Migration, hookimpl
from enttok.plugin_host import PluginHost
from enttok_vault.config import (
    SETTINGS_POLL_MS,
    IndexRebuildPayload,
    IndexUpdatePayload,
    ScanPayload,
    VaultConfig,
    VaultSettings,
)

PLUGIN_API_VERSION = 1

#: The watcher thread and the event that stops it, while the host runs.
_watching: tuple[threading.Thread, threading.Event] | None = None


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return VaultSettings


@hookimpl
def enttok_job_types() -> list[JobType]:
    # One job of each type at a time: they write one vault's index, and a per-vault lock
    # orders a scan and an update of the same vault anyway.
    return [
        JobType(
            "vault.scan",
            "enttok_vault.indexer:scan",
            ScanPayload,
            description="Scan a vault: changed notes read again, renames and deletions found, the index kept in step.",
            max_attempts=3,
            concurrency=1,
        ),
        JobType(
            "vault.index_rebuild",
            "enttok_vault.indexer:index_rebuild",
            IndexRebuildPayload,
            description="Drop a vault's search index and build it again (full text, and vectors with a model).",
            max_attempts=2,
            concurrency=1,
        ),
        JobType(
            "vault.index_update",
            "enttok_vault.indexer:index_update",
            IndexUpdatePayload,
            description="Index the given changed and deleted notes of a vault.",
            max_attempts=5,
            concurrency=1,
        ),
    ]


@hookimpl
def enttok_migrations() -> list[Migration]:
    from enttok_vault.migrations import MIGRATIONS

    return MIGRATIONS


@hookimpl
def enttok_routes() -> list[Route]:
    from enttok_vault.routes import routes

    return routes()


@hookimpl
async def enttok_startup(host: PluginHost) -> None:
    """Scan every watched vault (to catch what changed while the host was down), then watch."""
    global _watching
    settings = host.settings
    vaults = settings.vaults if isinstance(settings, VaultSettings) else []
    watched = [vault for vault in vaults if vault.watch and vault.root.is_dir()]
    for vault in watched:
        await host.submit("vault.scan", {"vault_id": vault.id}, dedupe_key=f"vault.scan:{vault.id}")
    stop = threading.Event()
    thread = threading.Thread(
        target=_watch,
        args=(host, asyncio.get_running_loop(), watched, stop),
        name="vault-watcher",
        daemon=True,
    )
    thread.start()
    _watching = (thread, stop)


def _watch(
    host: PluginHost, loop: asyncio.AbstractEventLoop, scanned: list[VaultConfig], stop: threading.Event
) -> None:
    """The watcher thread. Its module (and watchfiles, in turn) is imported here rather than
    in the startup hook, so that neither is on the host's start path; and with no vault to
    watch yet, only after the first wait for the settings to name one, which the watcher
    would begin with anyway, so not while the host answers its first requests."""
    if not scanned and stop.wait(SETTINGS_POLL_MS / 1000):
        return
    from enttok_vault.watcher import VaultWatcher

    VaultWatcher(host, loop, scanned, stop).run()


@hookimpl
async def enttok_shutdown(host: PluginHost) -> None:
    global _watching
    if _watching is not None:
        thread, stop = _watching
        stop.set()
        await asyncio.to_thread(thread.join, 5.0)
        _watching = None
