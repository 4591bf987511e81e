"""A sync writes its rows, its timeline entries and its cursor together or not at all.

`SyncPage` collects what one page of a sync produced and applies it in one SQLite
transaction when its block ends without an exception. A crash or a failed page therefore
never leaves the cursor ahead of the data, and because rows are upserted by key a page
written twice (the host died after the commit, before the job was marked done) does not
duplicate anything. Nothing is written while the block runs, so an async handler may
`await` its next request inside it without holding the database.

An async handler's pages (`async with ctx.sync()`) are committed by `SyncWriter`, one
thread with one connection, while the handler already fetches the next page: a commit no
longer holds up the event loop (and every other job and request on it), and it overlaps
the wait for the next page. The pages of one job still commit in order, each with its
cursor, and none after one that failed, so resuming from the stored cursor stays exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from enttok import clock
from enttok.store import Database, transaction

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
    def __init__(self, plugin: str, scope: str, cursor: str | None, job_id: str | None = None) -> None:
        self.plugin = plugin
        self.scope = scope
        self.cursor = cursor
        """The cursor committed by the last page (None before the first)."""
        self._operations: list[Callable[[sqlite3.Connection], None]] = []
        self._job_id = job_id
        self._counts = [0, 0]
        """Rows upserted and timeline entries written, counted for the job in the page's commit."""
        self._next_cursor: tuple[str | None] | None = None

    def upsert(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]],
        key: Sequence[str],
        *,
        keep: Sequence[str] = (),
    ) -> None:
        """Insert rows into one of this plugin's tables, replacing any with the same `key`.
        The columns in `keep` are written for a new row and left as they are in one replaced:
        a choice made here (a calendar switched off) that the upstream knows nothing of."""
        rows = list(rows)
        if not rows:
            return
        self._check_table(table)
        columns = list(rows[0])
        for name in [*columns, *key, *keep]:
            if not IDENTIFIER.fullmatch(name):
                raise ValueError(f"{name!r} is not a plain column name")
        updates = (
            ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key and c not in keep)
            or f"{key[0]} = excluded.{key[0]}"
        )
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        )
        try:
            values = [tuple(map(row.__getitem__, columns)) for row in rows]
        except KeyError as missing:
            raise ValueError(
                f"a row of {table} lacks column {missing} (rows must share the first one's columns)"
            ) from None
        self._operations.append(lambda tx: tx.executemany(statement, values))
        self._counts[0] += len(values)

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
        self._counts[1] += len(values)

    def remove_activity(self, account_id: str, *external_ids: str, source: str | None = None) -> None:
        """Take timeline entries back, by the ids they were written with: what the upstream
        undid (a meeting cancelled, an item deleted) leaves the journal too."""
        ids = [(f"{source or self.plugin}:{account_id}:{external_id}",) for external_id in external_ids]
        self._operations.append(
            lambda tx: tx.executemany("DELETE FROM activity_events WHERE event_id = ?", ids)
        )

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
            if self._job_id is not None and any(self._counts):
                tx.execute(COUNT_ITEMS, (self._job_id, *self._counts))
        _crash_point()


CRASH_FILE = "ENTTOK_TEST_CRASH_FILE"
"""Test kit only: the conformance suite starts hosts with this set to a file's path, and while
that file holds a number k the host kills itself right after its k-th page commit since the
number appeared, to show that a crash between any two commits loses no row. Unset (always,
outside the test kit) it costs one test per page commit."""
_crash_file = os.environ.get(CRASH_FILE)
_armed = {"at": 0, "commits": 0}


def _crash_point() -> None:
    if not _crash_file:
        return
    try:
        at = int(Path(_crash_file).read_text())
    except (OSError, ValueError):
        at = 0
    if at != _armed["at"]:
        _armed.update(at=at, commits=0)
    _armed["commits"] += 1
    if at and _armed["commits"] >= at:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


COUNT_ITEMS = (
    "INSERT INTO sync_items (job_id, rows, activity) VALUES (?, ?, ?) ON CONFLICT (job_id)"
    " DO UPDATE SET rows = rows + excluded.rows, activity = activity + excluded.activity"
)
"""What a job's pages committed, for its account's last sync (`enttok.accounts`)."""

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


PIPELINE_DEPTH = 2
"""Pages of one job handed over and not yet committed, at most: one committing while the
handler fills the next. More would only hold more pages in memory; SQLite takes one writer."""


class SyncWriter:
    """The host's one thread for committing async handlers' pages, with its own connection.

    One thread is enough: SQLite admits one writer at a time, so more threads would only
    queue on its lock; one keeps each job's pages in the order they were handed over.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enttok-sync-writer")
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    def write(self, page: SyncPage, job: JobPages) -> Future[None]:
        return self._executor.submit(self._write, page, job)

    def _write(self, page: SyncPage, job: JobPages) -> None:
        if job.failure is not None:
            return  # a page after a failed one must not move the cursor past the gap
        try:
            if self._connection is None:
                self._connection = self._connect()
            page._commit(self._connection)
        except BaseException as error:
            job.failure = error
            self._reset()

    def _reset(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Commit what was handed over, then close the connection (after the workers stop)."""
        if not self._closed:
            self._closed = True
            self._executor.submit(self._reset)  # on the thread that opened it
            self._executor.shutdown(wait=True)


class JobPages:
    """One job's pages in `SyncWriter`: the handler's view of what it handed over."""

    def __init__(self, writer: SyncWriter) -> None:
        self._writer = writer
        self._pending: deque[Future[None]] = deque()
        self._cursors: dict[str, tuple[Future[None], str | None]] = {}
        self.failure: BaseException | None = None
        """The first page that failed to commit (set on the writer's thread)."""

    @property
    def pending(self) -> bool:
        return any(not future.done() for future in self._pending)

    def cursor(self, scope: str) -> tuple[str | None] | None:
        """The cursor of this job's last page for `scope` while it is still uncommitted."""
        last = self._cursors.get(scope)
        return (last[1],) if last is not None and not last[0].done() else None

    def hand_over(self, page: SyncPage) -> None:
        future = self._writer.write(page, self)
        self._pending.append(future)
        if page._next_cursor is not None:
            self._cursors[page.scope] = (future, page._next_cursor[0])

    async def room(self) -> None:
        """Wait until another page may be handed over; raise the failure of an earlier one."""
        while self._pending and (self._pending[0].done() or len(self._pending) >= PIPELINE_DEPTH):
            await _uncancellable(self._pending.popleft())
        self._raise_failure()

    async def wait(self, raise_failure: bool = True) -> None:
        """Until every page handed over is committed (or skipped after a failure)."""
        while self._pending:
            await _uncancellable(self._pending.popleft())
        if raise_failure:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


async def _uncancellable(future: Future[None]) -> None:
    """Await a page's commit; cancelling the waiter must not cancel a page still queued,
    or the pages behind it would commit past the gap."""
    await asyncio.shield(asyncio.wrap_future(future))


class Sync:
    """What `ctx.sync(scope)` returns: one page, as a `with` or an `async with` block.

    `with`: the page commits when the block ends, on the calling thread (blocking handlers).
    `async with`: the page goes to the host's writer when the block ends and the handler
    goes on at once; the next `async with` sees its cursor, and waits only while two pages
    are uncommitted. The job succeeds only once all its pages are committed.
    """

    def __init__(
        self, database: Database, plugin: str, scope: str, job: JobPages, *, job_id: str | None = None
    ) -> None:
        self._database = database
        self._job_id = job_id
        self._plugin = plugin
        self._scope = scope
        self._job = job
        self._page: SyncPage | None = None
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> SyncPage:
        if self._job.pending:
            raise RuntimeError(
                "this job's pages are still committing: use `async with ctx.sync()` throughout"
            )
        self._connection = self._database.connect()
        self._page = SyncPage(
            self._plugin, self._scope, read_cursor(self._connection, self._plugin, self._scope), self._job_id
        )
        return self._page

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._connection is not None and self._page is not None
        try:
            if kind is None:
                self._page._commit(self._connection)
        finally:
            self._connection.close()

    async def __aenter__(self) -> SyncPage:
        await self._job.room()
        pending = self._job.cursor(self._scope)
        if pending is not None:
            cursor = pending[0]
        else:  # a read by key on the loop's own connection: cheaper than a thread hop
            cursor = read_cursor(self._database.connection, self._plugin, self._scope)
        self._page = SyncPage(self._plugin, self._scope, cursor, self._job_id)
        return self._page

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            assert self._page is not None
            self._job.hand_over(self._page)
