"""What the conformance suite reads besides the HTTP API: the host's SQLite file (read-only,
while the host runs or after it stopped), the files under its data dir, and how quickly the
host answers while a sync runs."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from enttok.store import HOST_MIGRATIONS, split_statements


@contextlib.contextmanager
def read_only(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a host's database; it sees the WAL, so a running host too."""
    connection = sqlite3.connect(f"file:{data_dir / 'data' / 'index.db'}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def host_schema_names() -> set[str]:
    """The names the host's own migrations create, worked out from them (not listed here, so
    a new host table is never mistaken for a plugin's)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for migration in HOST_MIGRATIONS:
            if callable(migration.apply):
                migration.apply(db)
            else:
                for statement in split_statements(migration.apply):
                    db.execute(statement)
        return {*_names(db), "schema_migrations"}


def _names(db: sqlite3.Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    return {row[0] for row in db.execute(query)}


def unprefixed_names(data_dir: Path, plugin: str) -> list[str]:
    """Tables, indexes, views and triggers that are neither the host's nor named `<plugin>_*`."""
    with read_only(data_dir) as db:
        found = _names(db)
    return sorted(found - host_schema_names() - {n for n in found if n.startswith(f"{plugin}_")})


def snapshot(data_dir: Path, plugin: str) -> dict[str, Any]:
    """The schema, the applied migrations and the row count of each of the plugin's tables."""
    with read_only(data_dir) as db:
        tables = [
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if row[0].startswith(f"{plugin}_")
        ]
        return {
            "schema": sorted(_names(db)),
            "migrations": sorted(db.execute("SELECT owner, version FROM schema_migrations").fetchall()),
            "rows": {table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables},
        }


def timeline_ids(data_dir: Path, account_id: str) -> list[str]:
    """The account's timeline entries (a list: duplicates show)."""
    with read_only(data_dir) as db:
        query = "SELECT event_id FROM activity_events WHERE account_id = ?"
        return [row[0] for row in db.execute(query, (account_id,))]


def wait_for_a_committed_cursor(data_dir: Path, plugin: str, timeout: float) -> None:
    """An async handler's pages commit in the host's writer thread while it fetches the next
    ones: wait until one has, so that a kill tests a resume from a cursor."""
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM sync_state WHERE connector = ? AND cursor IS NOT NULL"
    while time.monotonic() < deadline:
        with read_only(data_dir) as db:
            if db.execute(query, (plugin,)).fetchone()[0]:
                return
        time.sleep(0.01)  # no event marks a commit: poll the database's state, with a deadline
    raise AssertionError(f"no page of the sync was committed within {timeout:g}s")


def files_containing(needle: str, root: Path) -> list[Path]:
    data = needle.encode()
    return [path for path in root.rglob("*") if path.is_file() and data in path.read_bytes()]


def secret_fields(account_schema: Mapping[str, Any] | None) -> list[str]:
    """The account model's `SecretStr` fields, from its JSON Schema (`writeOnly`, `password`)."""

    def secret(schema: Mapping[str, Any]) -> bool:
        if schema.get("writeOnly") or schema.get("format") == "password":
            return True
        return any(secret(option) for key in ("anyOf", "oneOf", "allOf") for option in schema.get(key, ()))

    properties = (account_schema or {}).get("properties", {})
    return sorted(name for name, schema in properties.items() if secret(schema))


class HealthProbe:
    """Asks the host's `/health` again and again from a thread, timing each answer: the
    event loop answers it, so a handler holding the loop shows as a slow answer."""

    PAUSE = 0.02

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.failure: str | None = None
        self._first = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        if not self._first.wait(10) or self.failure:
            raise AssertionError(f"the host did not answer /health within 10s: {self.failure}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30, trust_env=False) as client:
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    client.get(f"{self.url}/health").raise_for_status()
                except httpx.HTTPError as error:
                    self.failure = f"{type(error).__name__}: {error}"
                    self._first.set()
                    return
                self.latencies.append(time.perf_counter() - began)
                self._first.set()
                self._stop.wait(self.PAUSE)  # a pace, so the probe does not crowd the sync out
