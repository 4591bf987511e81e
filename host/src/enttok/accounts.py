"""Connector accounts: what a plugin's account model declares, split on the way in.

Plain fields go to the `accounts` table; `SecretStr` fields go to the secret store (keyring)
and nowhere else: responses, events and logs only ever say whether a secret is set.

An account is shown with its last sync (`account_syncs`, written when a sync job of the
account ends), and deleting one takes what the plugin synced for it along.

Each method opens a connection of its own (`Database.connect`), whose writes wait for a write
lock held elsewhere, up to `store.BUSY_TIMEOUT_MS`, then raise `DatabaseBusy`: so the writes
run off the event loop (the account routes and the worker pool call them in a thread).
Reads never wait on a writer (WAL), and may run anywhere.
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
from enttok.errors import PermanentError
from enttok.last_sync import SELECT_WITH_LAST_SYNC, last_sync, record_sync_end
from enttok.secrets import Secrets
from enttok.store import transaction

AccountCleanup = typing.Callable[[sqlite3.Connection], None]
"""A plugin's own part of deleting an account, run inside the deletion's transaction."""


class AccountNotFound(PermanentError, LookupError):
    """The plugin has no such account. A job that asks for one fails with this, without
    retries: a schedule or a queued job can outlive the account it names."""

    code = "account_not_found"


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
        self.access_tokens: dict[tuple[str, str, str], typing.Any] = {}
        """`enttok.oauth`'s access tokens by (plugin, account, refresh-token field): in this
        process's memory only, never in the database, a log or a response."""

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
                f"{SELECT_WITH_LAST_SYNC} WHERE a.plugin = ? ORDER BY a.account_id", (plugin,)
            ).fetchall()
        return [self._public(row) for row in rows]

    def public(self, plugin: str, account_id: str) -> dict[str, Any]:
        with self._connection() as connection:
            row = connection.execute(
                f"{SELECT_WITH_LAST_SYNC} WHERE a.plugin = ? AND a.account_id = ?", (plugin, account_id)
            ).fetchone()
        if row is None:
            raise AccountNotFound(f"{plugin} has no account {account_id!r}")
        return self._public(row)

    def statuses(self, plugin: str) -> dict[str, str]:
        """Each account's status by id, in id order, without reading a secret."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT account_id, status FROM accounts WHERE plugin = ? ORDER BY account_id", (plugin,)
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    def exists(self, plugin: str, account_id: str) -> bool:
        with self._connection() as connection:
            return (
                connection.execute(
                    "SELECT 1 FROM accounts WHERE plugin = ? AND account_id = ?", (plugin, account_id)
                ).fetchone()
                is not None
            )

    def load(self, plugin: str, account_id: str) -> Account:
        """The account with its secrets, for a handler."""
        row = self._row(plugin, account_id)
        values = json.loads(row["data_json"])
        for field in json.loads(row["secret_fields"]):
            value = self.secrets.get(self.secret_key(plugin, account_id, field))
            values[field] = SecretStr(value) if value is not None else None
        settings = self.models[plugin].model_construct(**values)
        return Account(self, plugin, account_id, row["status"], settings)

    def missing(self, plugin: str, account_id: str) -> bool:
        """True when the plugin has accounts (an account model) and none named `account_id`."""
        return plugin in self.models and not self.exists(plugin, account_id)

    def load_all(self, plugin: str) -> list[Account]:
        """Every account of the plugin with its secrets, in id order (one deleted meanwhile is left out)."""
        accounts = []
        for account_id in self.statuses(plugin):
            with contextlib.suppress(AccountNotFound):
                accounts.append(self.load(plugin, account_id))
        return accounts

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
        self.forget_tokens(plugin, account_id)  # new credentials: no access token of the old ones

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

    def delete(
        self,
        plugin: str,
        account_id: str,
        *,
        cleanup: AccountCleanup | None = None,
        other_plugins: typing.Collection[str] = (),
    ) -> dict[str, int]:
        """Delete the account and what was synced for it, in one transaction: its cursors, its
        last sync, its timeline entries (source = the plugin), the rows of the plugin's tables
        that have an `account_id` column, and whatever `cleanup` (the plugin's
        `enttok_account_deleted`) removes. If `cleanup` raises, nothing is deleted. The
        secrets go once that has committed. Returns how many rows went, per table.

        `other_plugins` are the other plugins' names: a table of plugin `demo_x` starts with
        `demo_` too, and is not `demo`'s to empty."""
        row = self._row(plugin, account_id)
        removed: dict[str, int] = {}
        with self._connection() as connection, transaction(connection) as tx:
            tx.execute("DELETE FROM accounts WHERE plugin = ? AND account_id = ?", (plugin, account_id))
            removed["sync_state"] = tx.execute(
                f"DELETE FROM sync_state WHERE connector = ? AND {ACCOUNT_SCOPE}",
                (plugin, account_id, account_id, account_id),
            ).rowcount
            tx.execute("DELETE FROM account_syncs WHERE plugin = ? AND account_id = ?", (plugin, account_id))
            removed["activity_events"] = tx.execute(
                "DELETE FROM activity_events WHERE source = ? AND account_id = ?", (plugin, account_id)
            ).rowcount
            for table in account_tables(tx, plugin, other_plugins):
                removed[table] = tx.execute(
                    f"DELETE FROM {table} WHERE account_id = ?", (account_id,)
                ).rowcount
            if cleanup is not None:
                cleanup(tx)
        self.forget_tokens(plugin, account_id)
        for field in json.loads(row["secret_fields"]):
            self.secrets.delete(self.secret_key(plugin, account_id, field))
        return removed

    def sync_record(
        self,
        plugin: str,
        job: tuple[str, Mapping[str, Any]],
        status: str,
        error: Mapping[str, Any] | None,
        *,
        committed: bool,
    ) -> typing.Callable[[sqlite3.Connection], list[dict[str, Any]]] | None:
        """The write that ends a job of the plugin for its account (`job` is its id and
        payload), for the transaction that settles the job, so the two cannot part: one whose
        payload names an account of the plugin becomes that account's last sync, and a job
        that `committed` pages gives up its count. None for jobs of neither kind."""
        job_id, payload = job
        account_id = payload.get("account_id")
        is_sync = isinstance(account_id, str) and plugin in self.models
        if not (is_sync or committed):
            return None

        def record(tx: sqlite3.Connection) -> list[dict[str, Any]]:
            if is_sync:
                record_sync_end(tx, plugin, typing.cast(str, account_id), job_id, status, error)
            tx.execute("DELETE FROM sync_items WHERE job_id = ?", (job_id,))
            return []

        return record

    def forget_tokens(self, plugin: str, account_id: str) -> None:
        """Drop the account's cached access tokens (its credentials changed or it is gone)."""
        for key in [key for key in self.access_tokens if key[:2] == (plugin, account_id)]:
            self.access_tokens.pop(key, None)

    def set_status(self, plugin: str, account_id: str, status: str, reason: str | None = None) -> bool:
        """Off the event loop: it may wait for the write lock (`Database.connect`)."""
        with self._connection() as connection, transaction(connection) as tx:
            return write_status(tx, plugin, account_id, status, reason)

    def reset_cursor(self, plugin: str, account_id: str) -> int:
        """Full resync: forget every cursor of the account, so its next sync starts over."""
        self._row(plugin, account_id)
        with self._connection() as connection, transaction(connection) as tx:
            return tx.execute(
                f"DELETE FROM sync_state WHERE connector = ? AND {ACCOUNT_SCOPE}",
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
            "last_sync": last_sync(row),
        }


ACCOUNT_SCOPE = "(scope = ? OR substr(scope, 1, length(?) + 1) = ? || '/')"
"""A sync scope of the account: its id, or `<id>/...` (never a LIKE: `_` is a wildcard there)."""


def write_status(
    connection: sqlite3.Connection, plugin: str, account_id: str, status: str, reason: str | None
) -> bool:
    """Set the account's status in the caller's transaction; False when there is no such account."""
    changed = connection.execute(
        "UPDATE accounts SET status = ?, status_reason = ?, updated_at = ? WHERE plugin = ? AND account_id = ?",
        (status, reason, clock.now_iso(), plugin, account_id),
    ).rowcount
    return bool(changed)


def account_tables(
    connection: sqlite3.Connection, plugin: str, other_plugins: typing.Collection[str] = ()
) -> list[str]:
    """The plugin's tables (`<plugin>_*`, not another plugin's) with an `account_id` column."""
    prefix = f"{plugin}_"
    foreign = tuple(f"{other}_" for other in other_plugins if other != plugin and other.startswith(prefix))
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, length(?)) = ?"
            " ORDER BY name",
            (prefix, prefix),
        )
    ]
    return [
        name
        for name in names
        if not name.startswith(foreign)
        and any(column[1] == "account_id" for column in connection.execute(f'PRAGMA table_info("{name}")'))
    ]


def _plain(settings: BaseModel) -> dict[str, Any]:
    values = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return values
