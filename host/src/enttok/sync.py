"""A sync writes its rows, its timeline entries and its cursor together or not at all.

`SyncPage` collects what one page of a sync produced and applies it in one SQLite
transaction when the `with` block ends without an exception. A crash or a failed page
therefore never leaves the cursor ahead of the data, and because rows are upserted by key a
page written twice (the host died after the commit, before the job was marked done) does
not duplicate anything. Nothing is written while the block runs, so an async handler may
`await` its next request inside it without holding the database.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from enttok import clock
from enttok.store import transaction

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Activity(BaseModel):
    """One entry of the shared activity timeline the journal is built from."""

    account_id: str
    external_id: str = Field(
        description="The upstream's id for this event; with source and account it is unique."
    )
    event_type: str = Field(description="e.g. `issue.updated`, `meeting`, `pr.merged`.")
    event_time: AwareDatetime
    title: str | None = None
    description: str | None = None
    url: str | None = None
    actor: str | None = None
    raw: Any = None
    source: str | None = Field(None, description="Defaults to the plugin's name.")

    def event_id(self, default_source: str) -> str:
        return f"{self.source or default_source}:{self.account_id}:{self.external_id}"


class SyncPage:
    def __init__(self, plugin: str, scope: str, cursor: str | None) -> None:
        self.plugin = plugin
        self.scope = scope
        self.cursor = cursor
        """The cursor committed by the last page (None before the first)."""
        self._operations: list[Callable[[sqlite3.Connection], None]] = []
        self._next_cursor: tuple[str | None] | None = None

    def upsert(self, table: str, rows: Iterable[Mapping[str, Any]], key: Sequence[str]) -> None:
        """Insert rows into one of this plugin's tables, replacing any with the same `key`."""
        rows = [dict(row) for row in rows]
        if not rows:
            return
        self._check_table(table)
        columns = list(rows[0])
        for name in [*columns, *key]:
            if not IDENTIFIER.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain column name")
        updates = (
            ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
            or f"{key[0]} = excluded.{key[0]}"
        )
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        )
        values = [tuple(row[c] for c in columns) for row in rows]
        self._operations.append(lambda tx: tx.executemany(statement, values))

    def execute(self, statement: str, parameters: Sequence[Any] | Mapping[str, Any] = ()) -> None:
        """Any other statement on this plugin's tables, run with the rest at commit."""
        self._operations.append(lambda tx: tx.execute(statement, parameters))

    def activity(self, *entries: Activity) -> None:
        """Add or update timeline entries (idempotent by source, account and external id)."""
        now = clock.now_iso()
        values = [
            (
                entry.event_id(self.plugin),
                entry.source or self.plugin,
                entry.account_id,
                entry.event_type,
                entry.title,
                entry.description,
                entry.url,
                entry.actor,
                clock.iso(entry.event_time),
                now,
                now,
                json.dumps(entry.raw) if entry.raw is not None else None,
            )
            for entry in entries
        ]
        self._operations.append(lambda tx: tx.executemany(UPSERT_ACTIVITY, values))

    def advance(self, cursor: str | None) -> None:
        """The cursor to store with this page's data."""
        self._next_cursor = (cursor,)

    def _check_table(self, table: str) -> None:
        if not (IDENTIFIER.fullmatch(table) and table.startswith(f"{self.plugin}_")):
            raise ValueError(f"{table!r} is not one of plugin {self.plugin}'s tables ({self.plugin}_*)")

    def _commit(self, connection: sqlite3.Connection) -> None:
        if not self._operations and self._next_cursor is None:
            return
        with transaction(connection) as tx:
            for operation in self._operations:
                operation(tx)
            if self._next_cursor is not None:
                save_cursor(tx, self.plugin, self.scope, self._next_cursor[0])


UPSERT_ACTIVITY = (
    "INSERT INTO activity_events (event_id, source, account_id, event_type, title, description, url, actor,"
    " event_time, created_at, updated_at, raw_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (event_id) DO UPDATE SET event_type = excluded.event_type, title = excluded.title,"
    " description = excluded.description, url = excluded.url, actor = excluded.actor,"
    " event_time = excluded.event_time, updated_at = excluded.updated_at, raw_json = excluded.raw_json"
)


def read_cursor(connection: sqlite3.Connection, plugin: str, scope: str) -> str | None:
    row = connection.execute(
        "SELECT cursor FROM sync_state WHERE connector = ? AND scope = ?", (plugin, scope)
    ).fetchone()
    return row[0] if row else None


def save_cursor(connection: sqlite3.Connection, plugin: str, scope: str, cursor: str | None) -> None:
    connection.execute(
        "INSERT INTO sync_state (connector, scope, cursor, last_sync_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connector, scope) DO UPDATE SET cursor = excluded.cursor, last_sync_at = excluded.last_sync_at",
        (plugin, scope, cursor, clock.now_iso()),
    )


@contextmanager
def sync_page(connect: Callable[[], sqlite3.Connection], plugin: str, scope: str) -> Iterator[SyncPage]:
    connection = connect()
    try:
        page = SyncPage(plugin, scope, read_cursor(connection, plugin, scope))
        yield page
        page._commit(connection)
    finally:
        connection.close()
