"""Connector accounts: what a plugin's account model declares, split on the way in.

Plain fields go to the `accounts` table; `SecretStr` fields go to the secret store (keyring)
and nowhere else: responses, events and logs only ever say whether a secret is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from enttok import clock
from enttok.secrets import Secrets
from enttok.store import transaction


class AccountNotFound(LookupError):
    pass


class AccountExists(Exception):
    pass


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The fields of `model` annotated `SecretStr` (or `SecretStr | None`)."""
    return [name for name, field in model.model_fields.items() if _mentions_secret(field.annotation)]


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_mentions_secret(arg) for arg in typing.get_args(annotation))
    return False


class Account:
    """An account as a handler sees it: its settings, secrets filled in, and a way to
    replace a secret (an OAuth token refresh) that is written before it is returned."""

    def __init__(
        self, accounts: Accounts, plugin: str, account_id: str, status: str, settings: BaseModel
    ) -> None:
        self._accounts = accounts
        self.plugin = plugin
        self.id = account_id
        self.status = status
        self.settings: Any = settings

    def secret(self, field: str) -> str | None:
        value = getattr(self.settings, field, None)
        return value.get_secret_value() if isinstance(value, SecretStr) else None

    def save_secret(self, field: str, value: str) -> None:
        """Store a new value for a secret field (one atomic write), then use it here too.

        Call it as soon as a refresh returns a rotated token, before anything else: if the
        host dies a moment later, the new token is what the next attempt finds.
        """
        self._accounts.save_secrets(self.plugin, self.id, {field: value})
        setattr(self.settings, field, SecretStr(value))

    def reload_secret(self, field: str) -> str | None:
        """The secret as stored now: another job may have rotated it since this one began."""
        value = self._accounts.secrets.get(self._accounts.secret_key(self.plugin, self.id, field))
        setattr(self.settings, field, SecretStr(value) if value is not None else None)
        return value

    def secret_lock(self, field: str) -> asyncio.Lock:
        """One lock per account secret, shared by every job of the host: hold it across a
        read-use-replace of a rotating token so two jobs never spend the same one."""
        return self._accounts.lock_for(self.plugin, self.id, field)


class Accounts:
    def __init__(self, connect: typing.Callable[[], sqlite3.Connection], secrets: Secrets) -> None:
        self._connect = connect
        self.secrets = secrets
        self.models: dict[str, type[BaseModel]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def register(self, plugin: str, model: type[BaseModel]) -> None:
        self.models[plugin] = model

    def lock_for(self, plugin: str, account_id: str, field: str) -> asyncio.Lock:
        return self._locks.setdefault((plugin, account_id, field), asyncio.Lock())

    @staticmethod
    def secret_key(plugin: str, account_id: str, field: str) -> str:
        return f"{plugin}:{account_id}:{field}"

    # -- reading

    def list(self, plugin: str) -> list[dict[str, Any]]:
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT * FROM accounts WHERE plugin = ? ORDER BY account_id", (plugin,)
            ).fetchall()
        return [self._public(row) for row in rows]

    def public(self, plugin: str, account_id: str) -> dict[str, Any]:
        return self._public(self._row(plugin, account_id))

    def load(self, plugin: str, account_id: str) -> Account:
        """The account with its secrets, for a handler."""
        row = self._row(plugin, account_id)
        values = json.loads(row["data_json"])
        for field in json.loads(row["secret_fields"]):
            value = self.secrets.get(self.secret_key(plugin, account_id, field))
            values[field] = SecretStr(value) if value is not None else None
        settings = self.models[plugin].model_construct(**values)
        return Account(self, plugin, account_id, row["status"], settings)

    def _row(self, plugin: str, account_id: str) -> sqlite3.Row:
        with self._connection() as connection:
            row = connection.execute(
                "SELECT * FROM accounts WHERE plugin = ? AND account_id = ?", (plugin, account_id)
            ).fetchone()
        if row is None:
            raise AccountNotFound(f"{plugin} has no account {account_id!r}")
        return row

    # -- writing

    def create(self, plugin: str, account_id: str, settings: BaseModel) -> None:
        with self._connection() as connection:
            exists = connection.execute(
                "SELECT 1 FROM accounts WHERE plugin = ? AND account_id = ?", (plugin, account_id)
            ).fetchone()
        if exists:
            raise AccountExists(account_id)
        self._write(plugin, account_id, settings, created=True)

    def update(self, plugin: str, account_id: str, changes: Mapping[str, Any]) -> None:
        """Validate the merged settings; secret fields absent from `changes` stay as stored."""
        current = self.load(plugin, account_id)
        merged = {**_plain(current.settings), **changes}
        settings = self.models[plugin].model_validate(merged)
        self._write(plugin, account_id, settings, created=False, status="active")

    def _write(
        self, plugin: str, account_id: str, settings: BaseModel, *, created: bool, status: str = "active"
    ) -> None:
        secrets = secret_fields(type(settings))
        present = {
            f: getattr(settings, f).get_secret_value() for f in secrets if getattr(settings, f) is not None
        }
        # Secrets first: if this dies half-way, the row does not yet claim a secret it lacks.
        self.save_secrets(plugin, account_id, present)
        for field in set(secrets) - set(present):
            self.secrets.delete(self.secret_key(plugin, account_id, field))
        data = settings.model_dump(mode="json", exclude=set(secrets))
        now = clock.now_iso()
        with self._connection() as connection, transaction(connection) as tx:
            tx.execute(
                "INSERT INTO accounts (plugin, account_id, data_json, secret_fields, status, status_reason,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (plugin, account_id)"
                " DO UPDATE SET data_json = excluded.data_json, secret_fields = excluded.secret_fields,"
                " status = excluded.status, status_reason = NULL, updated_at = excluded.updated_at",
                (plugin, account_id, json.dumps(data), json.dumps(sorted(present)), status, now, now),
            )

    def save_secrets(self, plugin: str, account_id: str, values: Mapping[str, str]) -> None:
        for field, value in values.items():
            self.secrets.set(self.secret_key(plugin, account_id, field), value)

    def delete(self, plugin: str, account_id: str) -> None:
        row = self._row(plugin, account_id)
        with self._connection() as connection, transaction(connection) as tx:
            tx.execute("DELETE FROM accounts WHERE plugin = ? AND account_id = ?", (plugin, account_id))
            tx.execute(
                "DELETE FROM sync_state WHERE connector = ? AND (scope = ? OR substr(scope, 1, length(?) + 1) = ? || '/')",
                (plugin, account_id, account_id, account_id),
            )
        for field in json.loads(row["secret_fields"]):
            self.secrets.delete(self.secret_key(plugin, account_id, field))

    def set_status(self, plugin: str, account_id: str, status: str, reason: str | None = None) -> bool:
        with self._connection() as connection:
            changed = connection.execute(
                "UPDATE accounts SET status = ?, status_reason = ?, updated_at = ? WHERE plugin = ? AND account_id = ?",
                (status, reason, clock.now_iso(), plugin, account_id),
            ).rowcount
        return bool(changed)

    def reset_cursor(self, plugin: str, account_id: str) -> int:
        """Full resync: forget every cursor of the account, so its next sync starts over."""
        self._row(plugin, account_id)
        with self._connection() as connection:
            return connection.execute(
                "DELETE FROM sync_state WHERE connector = ? AND (scope = ? OR substr(scope, 1, length(?) + 1) = ? || '/')",
                (plugin, account_id, account_id, account_id),
            ).rowcount

    def _connection(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(self._connect())

    def _public(self, row: sqlite3.Row) -> dict[str, Any]:
        stored = set(json.loads(row["secret_fields"]))
        model = self.models.get(row["plugin"])
        return {
            "account_id": row["account_id"],
            "status": row["status"],
            "status_reason": row["status_reason"],
            "settings": json.loads(row["data_json"]),
            "secrets": {
                field: {"is_set": field in stored} for field in (secret_fields(model) if model else stored)
            },
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }


def _plain(settings: BaseModel) -> dict[str, Any]:
    values = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return values
