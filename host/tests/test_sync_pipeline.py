"""The pages of `async with ctx.sync()` commit in a thread, in order, and none after one that
failed: resuming from the stored cursor stays exact however the pipeline is interrupted.

These drive `enttok.sync` directly on a real SQLite file with the real writer thread; the writer
is held at a gate (its connection is only handed over when the test says so), so that pages are
queued behind one another when the test needs them to be.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enttok import Migration
from enttok.store import HOST_MIGRATIONS, HOST_OWNER, Database
from enttok.sync import Activity, JobPages, Sync, SyncPage, SyncWriter, read_cursor

PLUGIN = "pages"
SCOPE = "acme"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "index.db")
    database.open()
    database.migrate(HOST_OWNER, HOST_MIGRATIONS)
    table = Migration(1, "CREATE TABLE pages_rows (n INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    database.migrate(PLUGIN, [table], table_prefix=f"{PLUGIN}_")
    yield database
    database.close()


class GatedConnect:
    """`Database.connect` for the writer, held until `release()`: pages queue up meanwhile."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.gate = threading.Event()

    def __call__(self) -> sqlite3.Connection:
        assert self.gate.wait(10), "the test never released the writer"
        return self.database.connect()

    def release(self) -> None:
        self.gate.set()


def fill(page: SyncPage, n: int, value: str | None) -> None:
    page.upsert(f"{PLUGIN}_rows", [{"n": n, "value": value}], key=("n",))
    page.advance(str(n))


def stored(database: Database) -> tuple[list[int], str | None]:
    connection = database.connect()
    try:
        rows = [row[0] for row in connection.execute("SELECT n FROM pages_rows ORDER BY n")]
        return rows, read_cursor(connection, PLUGIN, SCOPE)
    finally:
        connection.close()


def run(database: Database, body: Callable[[SyncWriter, GatedConnect], object]) -> object:
    connect = GatedConnect(database)
    writer = SyncWriter(connect)
    try:
        return asyncio.run(body(writer, connect))  # type: ignore[arg-type]
    finally:
        connect.release()
        writer.close()


def test_a_page_sees_the_cursor_of_the_one_still_committing(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> list[str | None]:
        job = JobPages(writer)
        seen = []
        for n in range(2):
            async with Sync(database, PLUGIN, SCOPE, job) as page:
                seen.append(page.cursor)
                fill(page, n, f"v{n}")
        assert stored(database) == ([], None), "nothing may commit while the writer is held"
        connect.release()
        await job.wait()
        return seen

    assert run(database, body) == [None, "0"]
    assert stored(database) == ([0, 1], "1")


def test_no_page_commits_after_one_that_failed(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> None:
        job = JobPages(writer)
        for n, value in enumerate(["a", "b", None, "d"]):  # page 2 breaks NOT NULL
            if n == 2:
                connect.release()
            async with Sync(database, PLUGIN, SCOPE, job) as page:
                fill(page, n, value)
        await job.wait()

    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        run(database, body)
    assert stored(database) == ([0, 1], "1")


def test_the_next_page_after_a_failure_raises_before_its_block_runs(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> list[int]:
        job = JobPages(writer)
        for n, value in enumerate([None, "b"]):  # page 0 breaks NOT NULL
            async with Sync(database, PLUGIN, SCOPE, job) as page:
                fill(page, n, value)
        connect.release()
        ran = []
        with pytest.raises(sqlite3.IntegrityError):
            async with Sync(database, PLUGIN, SCOPE, job) as page:  # waits for page 0: it failed
                ran.append(2)
        return ran

    assert run(database, body) == []
    assert stored(database) == ([], None)


def test_a_cancelled_handler_does_not_drop_the_pages_it_handed_over(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> None:
        other = JobPages(writer)
        async with Sync(database, PLUGIN, "other", other) as page:  # the writer is busy with it
            page.advance("x")
        job = JobPages(writer)
        for n in range(2):  # both queued behind the other job's page, not yet running
            async with Sync(database, PLUGIN, SCOPE, job) as page:
                fill(page, n, f"v{n}")
        waiting = asyncio.create_task(job.room())  # two pages uncommitted: it waits
        await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        connect.release()
        await job.wait()
        await other.wait()

    run(database, body)
    assert stored(database) == ([0, 1], "1")


def test_a_blocking_page_is_refused_while_async_pages_are_committing(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> None:
        job = JobPages(writer)
        async with Sync(database, PLUGIN, SCOPE, job) as page:
            fill(page, 0, "a")
        with pytest.raises(RuntimeError, match=r"async with ctx\.sync"), Sync(database, PLUGIN, SCOPE, job):
            pass
        connect.release()
        await job.wait()
        with Sync(database, PLUGIN, SCOPE, job) as page:  # nothing pending: allowed again
            assert page.cursor == "0"
            fill(page, 1, "b")

    run(database, body)
    assert stored(database) == ([0, 1], "1")


def test_a_page_left_by_an_exception_is_not_written(database: Database) -> None:
    async def body(writer: SyncWriter, connect: GatedConnect) -> None:
        job = JobPages(writer)
        connect.release()
        with pytest.raises(ValueError, match="bad page"):
            async with Sync(database, PLUGIN, SCOPE, job) as page:
                fill(page, 0, "a")
                raise ValueError("bad page")
        await job.wait()

    run(database, body)
    assert stored(database) == ([], None)


def test_timeline_entries_taken_back_leave_the_others(database: Database) -> None:
    def meeting(account_id: str, external_id: str) -> Activity:
        return Activity(
            account_id=account_id,
            external_id=external_id,
            event_type="meeting",
            event_time=datetime(2026, 12, 4, 9, tzinfo=UTC),
        )

    async def body(writer: SyncWriter, connect: GatedConnect) -> None:
        job = JobPages(writer)
        connect.release()
        async with Sync(database, PLUGIN, SCOPE, job) as page:
            page.activity(meeting("a", "standup"), meeting("a", "review"), meeting("b", "standup"))
        async with Sync(database, PLUGIN, SCOPE, job) as page:
            page.remove_activity("a", "standup", "never-written")
        await job.wait()

    run(database, body)
    connection = database.connect()
    try:
        left = connection.execute("SELECT event_id FROM activity_events ORDER BY event_id").fetchall()
    finally:
        connection.close()
    assert [row[0] for row in left] == ["pages:a:review", "pages:b:standup"]
