"""The store's own upkeep, on a real SQLite file: the WAL does not grow without end."""

from __future__ import annotations

import time
from pathlib import Path

from enttok.store import CHECKPOINT_INTERVAL, Database


def test_the_wal_starts_over_once_it_passes_its_limit_under_constant_writes(tmp_path: Path) -> None:
    limit = 256 * 1024
    database = Database(tmp_path / "index.db", wal_size_limit=limit)
    database.open()
    wal = tmp_path / "index.db-wal"
    try:
        database.connection.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, text TEXT)")
        largest, shrunk, n = 0, False, 0
        deadline = time.monotonic() + 40 * CHECKPOINT_INTERVAL
        while not shrunk and time.monotonic() < deadline:  # writing all along, as under load
            with database.transaction() as tx:
                tx.execute("INSERT INTO filler (text) VALUES (?)", ("x" * 4000,))
            n += 1
            size = wal.stat().st_size
            shrunk = largest > limit and size < largest
            largest = max(largest, size)
        assert shrunk, f"the WAL only grew: {largest} bytes after {n} commits"
        assert database.connection.execute("SELECT count(*) FROM filler").fetchone()[0] == n
    finally:
        database.close()
