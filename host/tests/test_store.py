"""The store's own upkeep, on a real SQLite file: a WAL grown by a burst of writes gives its
disk back once the writes pause, without any checkpoint that would block a writer."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from enttok.store import CHECKPOINT_INTERVAL, Database

ROW = "x" * 4000


def test_a_wal_grown_by_a_burst_is_cut_back_to_its_limit_at_the_first_lull(tmp_path: Path) -> None:
    limit = 128 * 1024
    database = Database(tmp_path / "index.db", wal_size_limit=limit)
    database.open()
    wal = tmp_path / "index.db-wal"
    try:
        database.connection.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, text TEXT)")
        with database.transaction() as tx:  # one burst: far more than the limit
            tx.executemany("INSERT INTO filler (text) VALUES (?)", [(ROW,)] * 200)
        grown = wal.stat().st_size
        assert grown > 4 * limit

        # A lull: a write now and then. Once the checkpoint thread has copied the whole log,
        # the next write starts it over and the file is cut back.
        pause = threading.Event()
        deadline = time.monotonic() + 20 * CHECKPOINT_INTERVAL
        writes = 0
        while wal.stat().st_size > limit and time.monotonic() < deadline:
            pause.wait(CHECKPOINT_INTERVAL / 5)
            with database.transaction() as tx:
                tx.execute("INSERT INTO filler (text) VALUES ('lull')")
            writes += 1
        assert wal.stat().st_size <= limit, (
            f"the WAL stayed at {wal.stat().st_size} bytes after {writes} writes"
        )
        assert database.connection.execute("SELECT count(*) FROM filler").fetchone()[0] == 200 + writes
    finally:
        database.close()
