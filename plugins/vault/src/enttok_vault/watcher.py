"""While the host runs, changes in the vaults queue `vault.index_update` jobs.

One thread watches every vault (watchfiles: inotify, FSEvents or ReadDirectoryChangesW).
watchfiles already debounces: it yields a batch once the disk has been quiet for `STEP_MS`
(at most every `DEBOUNCE_MS`), so an editor's save (temporary file, rename, touch) is one
batch; the batch's paths are deduplicated and split per vault into one job each. A folder
moved or deleted is seen as the folder only, so it queues a `vault.scan` of the vault instead.
The thread also follows the settings: a vault added, removed or moved is watched (and a new
one scanned) within a second, with no restart. The plugin's startup hook starts the thread,
which imports this module and, once a vault is configured, watchfiles: neither loads on the
host's start path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from enttok.plugin_host import PluginHost
from enttok_vault.config import SETTINGS_POLL_MS, VaultConfig, VaultSettings, vault_relative

DEBOUNCE_MS = 1600
STEP_MS = 200

log = logging.getLogger("enttok.plugins.vault.watcher")


class VaultWatcher:
    """Runs on the thread the startup hook started (`run`), until `stop` is set."""

    def __init__(
        self,
        host: PluginHost,
        loop: asyncio.AbstractEventLoop,
        scanned: Iterable[VaultConfig],
        stop: threading.Event,
    ) -> None:
        self._host = host
        self._loop = loop
        self._scanned = {(vault.id, vault.path) for vault in scanned}
        self._stop = stop

    def _vaults(self) -> list[VaultConfig]:
        settings = self._host.settings
        if not isinstance(settings, VaultSettings):
            return []
        return [vault for vault in settings.vaults if vault.watch and vault.root.is_dir()]

    def run(self) -> None:
        while not self._stop.is_set():
            vaults = self._vaults()
            for vault in vaults:
                if (vault.id, vault.path) not in self._scanned:  # added or moved while the host runs
                    self._scanned.add((vault.id, vault.path))
                    self._submit("vault.scan", {"vault_id": vault.id}, dedupe_key=f"vault.scan:{vault.id}")
            if not vaults:
                self._stop.wait(SETTINGS_POLL_MS / 1000)
                continue
            try:
                self._watch(vaults)
            except Exception:
                log.exception("watching the vaults failed; trying again")
                self._stop.wait(5)

    def _watch(self, vaults: list[VaultConfig]) -> None:
        from watchfiles import Change, watch

        signature = [(v.id, v.path) for v in vaults]
        for changes in watch(
            *[v.root for v in vaults],
            watch_filter=None,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._stop,
            rust_timeout=SETTINGS_POLL_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            if changes:
                self._queue(vaults, [(change == Change.deleted, path) for change, path in changes])
            if [(v.id, v.path) for v in self._vaults()] != signature:
                return  # the settings changed: watch the new set

    def _queue(self, vaults: list[VaultConfig], changes: list[tuple[bool, str]]) -> None:
        # The deepest root first, so a vault inside another's folder gets its own files.
        ordered = sorted(vaults, key=lambda v: len(str(v.root)), reverse=True)
        per_vault: dict[str, dict[str, Any]] = {}
        for deleted, path in changes:
            for vault in ordered:
                relative = vault_relative(vault, path)
                if relative is None:
                    continue
                batch = per_vault.setdefault(vault.id, {"changed": set(), "deleted": set(), "rescan": False})
                if os.path.isdir(path) or (deleted and not relative.endswith(".md")):
                    batch["rescan"] = True  # a folder: its files were not reported one by one
                elif vault.wants(relative):
                    batch["deleted" if deleted else "changed"].add(relative)
                break
        for vault_id, batch in per_vault.items():
            if batch["rescan"]:  # no dedupe key: a scan already running may have listed the folder
                self._submit("vault.scan", {"vault_id": vault_id})
            elif batch["changed"] or batch["deleted"]:
                payload = {
                    "vault_id": vault_id,
                    "changed_paths": sorted(batch["changed"] - batch["deleted"]),
                    "deleted_paths": sorted(batch["deleted"]),
                }
                self._submit("vault.index_update", payload)

    def _submit(self, job_type: str, payload: dict[str, Any], dedupe_key: str | None = None) -> None:
        future = asyncio.run_coroutine_threadsafe(
            self._host.submit(job_type, payload, dedupe_key), self._loop
        )
        try:
            future.result(timeout=30)
        except Exception:
            log.exception("could not queue %s for vault %s", job_type, payload.get("vault_id"))
