"""The SQLite database: connections, transactions and versioned migrations.

The host keeps one connection on the event loop's thread for its own short writes (WAL and
`synchronous=NORMAL` make a commit a few tens of microseconds, cheaper than a thread hop);
handlers and maintenance open their own with `Database.connect()`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from enttok import clock
from enttok.declarations import Migration

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
CHECKPOINT_INTERVAL = 0.5
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""When the WAL starts over, a larger file is cut back to this (`journal_size_limit`)."""
HOST_OWNER = "host"

HOST_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            run_after TEXT NOT NULL,
            finished_at TEXT,
            attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            progress REAL,
            message TEXT,
            payload_json TEXT NOT NULL,
            result_json TEXT,
            error_json TEXT,
            dedupe_key TEXT
        );
        CREATE INDEX jobs_ready ON jobs (status, run_after, job_id);
        CREATE INDEX jobs_status ON jobs (status, job_id);
        CREATE INDEX jobs_type ON jobs (type, job_id);
        CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key)
            WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');

        CREATE TABLE job_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT,
            created_at TEXT NOT NULL,
            type TEXT NOT NULL,
            level TEXT NOT NULL DEFAULT 'info',
            message TEXT,
            data_json TEXT
        );
        CREATE INDEX job_events_job ON job_events (job_id, seq);

        CREATE TABLE sync_state (
            connector TEXT NOT NULL,
            scope TEXT NOT NULL DEFAULT '',
            cursor TEXT,
            last_sync_at TEXT,
            PRIMARY KEY (connector, scope)
        );

        CREATE TABLE activity_events (
            event_id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            account_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            title TEXT,
            description TEXT,
            url TEXT,
            actor TEXT,
            event_time TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            raw_json TEXT
        );
        CREATE INDEX activity_time ON activity_events (event_time);
        CREATE INDEX activity_source ON activity_events (source, event_time);
        CREATE INDEX activity_account ON activity_events (account_id, event_time);

        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
        "host tables",
    ),
    Migration(
        2,
        """
        CREATE TABLE accounts (
            plugin TEXT NOT NULL,
            account_id TEXT NOT NULL,
            data_json TEXT NOT NULL,
            secret_fields TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            status_reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (plugin, account_id)
        );
        """,
        "connector accounts (their secrets live in the keyring)",
    ),
    # Every sync rewrites its pages and entries arrive out of time order from many sources: the
    # two extra indexes made each timeline write 2.6 times as costly (bench/README.md), while
    # readers ask for a day or so, which the time index finds and then filters cheaply.
    Migration(
        3,
        """
        DROP INDEX activity_source;
        DROP INDEX activity_account;
        """,
        "the activity timeline keeps one index, by time",
    ),
)


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says what and where."""


def split_statements(script: str) -> Iterator[str]:
    """Complete SQL statements of a script, so a migration can run inside one transaction
    (`executescript` would commit first)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:80]}")


def configure(connection: sqlite3.Connection) -> sqlite3.Connection:
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class Database:
    def __init__(self, path: Path, wal_size_limit: int = WAL_SIZE_LIMIT) -> None:
        self.path = path
        self.wal_size_limit = wal_size_limit
        self._connection: sqlite3.Connection | None = None
        self._owner = 0

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists() and self.path.stat().st_size > 0
        if existed:
            self._check_file()
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            configure(connection)
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as error:
            connection.close()
            raise StoreError(f"{self.path} is not a usable SQLite database: {error}") from None
        # The loop's commits never stop to copy the WAL into the database: a thread does it.
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._limit_wal(connection)
        self._connection = connection
        self._owner = threading.get_ident()
        self._checkpoints = threading.Event()
        threading.Thread(target=self._checkpoint_loop, name="enttok-checkpoint", daemon=True).start()

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
        if self._connection is not None:
            self._checkpoints.set()
            self._connection.execute("PRAGMA optimize")
            self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._connection.close()
            self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        yield from _transaction(self.connection)

    def migrate(self, owner: str, migrations: Sequence[Migration], table_prefix: str | None = None) -> int:
        """Apply `owner`'s migrations not yet recorded, each in its own transaction; how many ran.

        With `table_prefix`, a migration that creates a table or index outside it is rolled
        back and refused, so a plugin cannot touch the host's tables or another plugin's.
        """
        connection = self.connection
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " owner TEXT NOT NULL, version INTEGER NOT NULL, description TEXT,"
            " applied_at TEXT NOT NULL, PRIMARY KEY (owner, version))"
        )
        applied = {
            row[0]
            for row in connection.execute("SELECT version FROM schema_migrations WHERE owner = ?", (owner,))
        }
        versions = [migration.version for migration in migrations]
        if len(set(versions)) != len(versions):
            raise StoreError(f"{owner} declares a migration version twice: {sorted(versions)}")
        ran = 0
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in applied:
                continue
            with self.transaction() as tx:
                before = _schema_names(tx)
                _apply(tx, migration.apply)
                foreign = sorted(
                    name
                    for name in _schema_names(tx) - before
                    if table_prefix and not name.startswith(table_prefix)
                )
                if foreign:
                    raise StoreError(
                        f"{owner} migration {migration.version} creates {', '.join(foreign)}, "
                        f"outside its prefix {table_prefix!r}"
                    )
                tx.execute(
                    "INSERT INTO schema_migrations (owner, version, description, applied_at) VALUES (?, ?, ?, ?)",
                    (owner, migration.version, migration.description, clock.now_iso()),
                )
            ran += 1
            log.info("applied %s migration %d %s", owner, migration.version, migration.description)
        return ran


def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` on any connection made by this module (autocommit mode)."""
    yield from _transaction(connection)


def _apply(connection: sqlite3.Connection, step: str | Callable[[sqlite3.Connection], None]) -> None:
    if callable(step):
        step(connection)
        return
    for statement in split_statements(step):
        connection.execute(statement)


def _schema_names(connection: sqlite3.Connection) -> set[str]:
    return {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'view', 'trigger')"
            " AND name NOT LIKE 'sqlite_%'"
        )
    }
