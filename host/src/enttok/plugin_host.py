"""`PluginHost`: the host as a plugin sees it at start-up, at shutdown and in its routes."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from enttok.accounts import Account
    from enttok.host import Host


class PluginHost:
    def __init__(self, host: Host, name: str) -> None:
        self._host = host
        self.name = name
        self.logger = logging.getLogger(f"enttok.plugins.{name}")

    @property
    def settings(self) -> BaseModel | None:
        """This plugin's current settings (its `enttok_settings_model`), or None."""
        return self._host.settings.plugins.get(self.name)

    @property
    def cache_dir(self) -> Path:
        """A directory of this plugin's own under the host's cache dir."""
        path = self._host.config.cache_dir / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def connect(self) -> sqlite3.Connection:
        """A new connection to the host database; close it when done."""
        return self._host.database.connect()

    async def submit(
        self, job_type: str, payload: dict[str, Any], dedupe_key: str | None = None
    ) -> dict[str, Any]:
        """Enqueue a job; returns once it is stored (await it from a route or an async hook)."""
        record, _ = await self._host.submit(job_type, payload, dedupe_key=dedupe_key)
        return record

    def account(self, account_id: str) -> Account:
        """One of the plugin's accounts, secrets filled in (`AccountNotFound` if there is none)."""
        return self._host.accounts.load(self.name, account_id)

    def save_account(
        self, account_id: str, settings: Mapping[str, Any], *, status: str = "active"
    ) -> Account:
        """Create the account or change it, from a route that signs a person in (an OAuth
        callback) rather than from `POST /accounts`. `settings` are validated against the
        account model (pydantic's `ValidationError` if they do not fit); secret fields left
        out of a change stay as stored, one given as None is deleted. `status` is `active`
        (signed in) or `needs_reauth` (signed out). Blocking: call it in a thread."""
        accounts = self._host.accounts
        if accounts.exists(self.name, account_id):
            accounts.update(self.name, account_id, settings)
        else:
            accounts.create(self.name, account_id, accounts.models[self.name].model_validate(settings))
        if status != "active":
            accounts.set_status(self.name, account_id, status)
        return accounts.load(self.name, account_id)

    def emit(self, type: str, message: str | None = None, **fields: Any) -> None:
        """Send an event of this plugin's to the event stream (`type` is prefixed `<plugin>.`)."""
        self._host.bus.emit(f"{self.name}.{type}", message=message, **fields)


def plugin_host(connection: HTTPConnection, name: str) -> PluginHost:
    """The PluginHost of plugin `name`, from inside one of its routes."""
    return connection.app.state.host.plugin_host(name)
