"""The SQLite database: its connections and transactions, and the checks of its file.

The host keeps one connection on the event loop's thread for its own short writes (WAL and
`synchronous=NORMAL` make a commit a few tens of microseconds, cheaper than a thread hop);
handlers and maintenance open their own with `Database.connect()`.

That connection never waits long for the write lock (`LOOP_BUSY_TIMEOUT_MS`): while another
connection holds it, the loop's write fails at once with `DatabaseBusy` and its caller retries
later without blocking the loop (`write_patiently`), so requests and reads go on meanwhile.
Every refusal from SQLite that is not the host's fault (a lock held too long, a full disk, a
file deleted under it) becomes a `StoreUnavailable` naming it (`store_faults`), which the API
answers with 503/507 and the host reports in its health, instead of a 500.

The schema is the host's migrations (`enttok.schema`) and each plugin's, which
`enttok.migrations` applies; both are still importable from here, as they always were.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from enttok.declarations import Migration
from enttok.health import Health
from enttok.migrations import migrate
from enttok.migrations import split_statements as split_statements
from enttok.schema import HOST_MIGRATIONS as HOST_MIGRATIONS
from enttok.schema import HOST_OWNER as HOST_OWNER
from enttok.store_faults import (
    DatabaseBusy,
    DatabaseCorrupt,
    DatabaseReplaced,
    DiskFull,
    StoreUnavailable,
    busy_delays,
    classify,
    replaced,
    translated,
)
from enttok.store_faults import NotWritable as NotWritable
from enttok.store_faults import StoreError as StoreError

T = TypeVar("T")

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
LOOP_BUSY_TIMEOUT_MS = 0
"""How long the event loop's connection lets SQLite wait for the write lock before `DatabaseBusy`:
not at all, since SQLite waits by sleeping, which would stall every request; the caller waits
instead, without blocking the loop (`write_patiently`, the queue's group commit)."""
WRITE_TIMEOUT = 5.0
"""How long a write from the loop keeps retrying a held lock before it answers 503."""
CHECKPOINT_INTERVAL = 0.5
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""When the WAL starts over, a larger file is cut back to this (`journal_size_limit`)."""


def configure(connection: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class Database:
    def __init__(self, path: Path, wal_size_limit: int = WAL_SIZE_LIMIT) -> None:
        self.path = path
        self.wal_size_limit = wal_size_limit
        self._connection: sqlite3.Connection | None = None
        self._owner = 0
        self._identity: tuple[int, int] | None = None
        self.health = Health()
        """Where the loop's writes report a refusal, and clear it when one succeeds again."""

    @property
    def connection(self) -> sqlite3.Connection:
        """The host's own connection, for the thread that opened it (the event loop's) only;
        other threads use `connect()`. Crossing threads here would race, so it is refused."""
        if self._connection is None:
            raise RuntimeError("the database is not open")
        if threading.get_ident() != self._owner:
            raise RuntimeError(
                "the host's connection is used off the event loop's thread; use Database.connect()"
            )
        return self._connection

    def open(self) -> None:
        """Open (creating when absent) and check the file before anything writes to it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NotWritable(f"{self.path.parent} cannot be created ({error.strerror})") from None
        existed = self.path.exists() and self.path.stat().st_size > 0
        if existed:
            self._check_file()
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise NotWritable(f"{self.path} cannot be opened ({error})") from None
        try:
            with translated(self.path):
                configure(connection)
                if not existed:  # only an empty file can take it without a full VACUUM
                    connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
                connection.execute("PRAGMA journal_mode = WAL")
                # The loop's commits never stop to copy the WAL into the database: a thread does it.
                connection.execute("PRAGMA wal_autocheckpoint = 0")
                self._limit_wal(connection)
        except StoreUnavailable as error:
            connection.close()
            if isinstance(error, DiskFull | DatabaseBusy):
                raise
            if isinstance(error, DatabaseCorrupt):
                raise StoreError(f"{self.path} is not a usable SQLite database: {error.__cause__}") from None
            raise NotWritable(f"{self.path} cannot be written ({error.__cause__ or error})") from None
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StoreError(f"{self.path} is not a usable SQLite database: {error}") from None
        self._identity = _identity(self.path)
        self._connection = connection
        self._owner = threading.get_ident()
        self._checkpoints = threading.Event()
        threading.Thread(target=self._checkpoint_loop, name="enttok-checkpoint", daemon=True).start()

    async def write_patiently(self, write: Callable[[], T]) -> T:
        """`write()` (a write on the loop's connection), tried again while the lock is held
        elsewhere, waiting without blocking the loop; `DatabaseBusy` after WRITE_TIMEOUT."""
        deadline = time.monotonic() + WRITE_TIMEOUT
        for delay in busy_delays():
            try:
                return write()
            except DatabaseBusy as error:
                if time.monotonic() + delay > deadline:
                    self.report_busy(error)
                    raise
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def report_busy(self, error: DatabaseBusy) -> None:
        """A write gave up on the lock after WRITE_TIMEOUT: that is a fault, until one succeeds."""
        self.health.report("store", error.code, f"{error} (held for over {WRITE_TIMEOUT:g}s)")

    def probe_write(self) -> None:
        """The smallest write that needs the disk (the header page rewritten as it is): it
        succeeds, and so clears a store fault, only once writing works again."""
        with self.transaction() as tx:
            version = tx.execute("PRAGMA user_version").fetchone()[0]
            tx.execute(f"PRAGMA user_version = {int(version)}")

    def wait_briefly_for_locks(self) -> None:
        """From now on the loop's connection gives up on a held write lock at once (see the
        module docstring); until then (migrations, recovery, before serving) it waits."""
        self.connection.execute(f"PRAGMA busy_timeout = {LOOP_BUSY_TIMEOUT_MS}")

    def check_identity(self) -> None:
        """Raise DatabaseReplaced when the file at `path` is no longer the one opened: deleted,
        or another file moved in its place. Writes to the old one would vanish at the next
        start, so nothing may be acknowledged after this."""
        if self._identity is not None and _identity(self.path) != self._identity:
            raise replaced(self.path)

    def _checkpoint_loop(self) -> None:
        """Fold the WAL into the database every CHECKPOINT_INTERVAL seconds (PASSIVE: it never
        waits on a writer), so the log stays small without the event loop paying for it.

        Under sustained writes a PASSIVE checkpoint never catches up, so the log cannot start
        over and grows (660 MB after 60,000 jobs back to back). It starts over at the first
        lull, and `journal_size_limit` then gives the disk back. A checkpoint that would force
        the restart (RESTART, TRUNCATE) holds the write lock while it copies and syncs, which
        stalls the event loop's next commit: it doubled `/events` p99 latency, so it is not used."""
        connection = self.connect()
        try:
            while not self._checkpoints.wait(CHECKPOINT_INTERVAL):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as error:
                    log.warning("WAL checkpoint failed: %s", error)
        finally:
            connection.close()

    def _check_file(self) -> None:
        """Refuse a corrupt or truncated file read-only, leaving it exactly as found."""
        try:
            probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error as error:
            raise StoreError(f"{self.path} cannot be opened: {error}") from None
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            page_size = probe.execute("PRAGMA page_size").fetchone()[0]
            page_count = probe.execute("PRAGMA page_count").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{self.path} is not a usable SQLite database ({error}); it was left untouched: "
                "restore it from a backup or move it aside to start empty"
            ) from None
        finally:
            probe.close()
        size = os.path.getsize(self.path)
        if size < page_size * page_count and not Path(f"{self.path}-wal").exists():
            raise StoreError(
                f"{self.path} is truncated ({size} bytes, its header says {page_size * page_count}); "
                "it was left untouched: restore it from a backup or move it aside to start empty"
            )

    def connect(self) -> sqlite3.Connection:
        """A new connection for another thread (a blocking handler, maintenance)."""
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        return self._limit_wal(configure(connection))

    def _limit_wal(self, connection: sqlite3.Connection) -> sqlite3.Connection:
        connection.execute(f"PRAGMA journal_size_limit = {int(self.wal_size_limit)}")
        return connection

    def close(self) -> None:
        """Close the loop's connection, folding the WAL into the file first where it can:
        with a full disk that fails, harmlessly (the WAL is durable and read at the next start)."""
        if self._connection is None:
            return
        self._checkpoints.set()
        # Nothing else is served now: the checkpoint may wait for the checkpoint thread or a
        # handler's connection to finish, as it should, rather than give up at once.
        statements = (
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "PRAGMA optimize",
            "PRAGMA wal_checkpoint(TRUNCATE)",
        )
        for statement in statements:
            try:
                self._connection.execute(statement)
            except sqlite3.Error as error:
                log.warning("at close, %s failed: %s", statement, error)
                break
        self._connection.close()
        self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write on the loop's connection. It is refused at once after a fatal fault, checks
        the file is still the one opened before it commits, and keeps `health` up to date."""
        connection = self.connection
        if (fatal := self.health.fatal) is not None:
            raise (DatabaseReplaced if fatal.code == DatabaseReplaced.code else DatabaseCorrupt)(
                fatal.message
            )
        try:
            with translated(self.path):
                yield from _transaction(connection, self.check_identity)
        except StoreUnavailable as error:
            if not isinstance(error, DatabaseBusy):  # a held lock is reported by whoever gives up
                self.health.report("store", error.code, str(error), fatal=error.fatal)
            raise
        self.health.clear("store")

    def migrate(self, owner: str, migrations: Sequence[Migration], table_prefix: str | None = None) -> int:
        """Apply `owner`'s migrations not yet recorded, each in its own transaction; how many
        ran (`enttok.migrations`)."""
        return migrate(self, owner, migrations, table_prefix)


def _transaction(
    connection: sqlite3.Connection, before_commit: Callable[[], None] | None = None
) -> Iterator[sqlite3.Connection]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
        if before_commit is not None:
            before_commit()
        connection.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (a full disk, an I/O error);
        # a failed COMMIT leaves the transaction open. Either way none may be left open.
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error as error:
                log.warning("rollback failed: %s", error)
        raise


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` on any connection made by this module (autocommit mode);
    SQLite's refusals come out as `StoreUnavailable`."""
    try:
        yield from _transaction(connection)
    except sqlite3.Error as error:
        typed = classify(error, _path_of(connection))
        if typed is None or typed is error:
            raise
        raise typed from error


def _path_of(connection: sqlite3.Connection) -> Path:
    try:
        return Path(connection.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return Path("the database")


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's device and inode: the same path with another pair is another file."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
