"""What SQLite's refusals mean for the host: a lock held elsewhere, a full disk, a file
deleted or replaced under it. Each becomes a `StoreUnavailable` that says so, which the API
answers with 503 or 507 and its code (never a 500) and the host shows in its health.

`StoreError` is the other kind: a file that cannot be used at all (corrupt, truncated, not
writable), found at start, which stops the host with a message instead.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says what and where."""


class NotWritable(StoreError):
    """The data dir or the database file cannot be created or written."""


class StoreUnavailable(sqlite3.OperationalError):
    """SQLite refused for a reason outside the host's code: answered with `status` and `code`
    (never a 500), and reported in the host's health. An `sqlite3.OperationalError`, so code
    that already catches SQLite's errors still does."""

    code = "database_error"
    status = 503
    retry_after: int | None = 5
    fatal = False


class DatabaseBusy(StoreUnavailable):
    code = "database_busy"
    retry_after = 1


class DiskFull(StoreUnavailable):
    code = "disk_full"
    status = 507
    retry_after = 30


class DatabaseReadOnly(StoreUnavailable):
    code = "database_read_only"


class DatabaseReplaced(StoreUnavailable):
    code = "database_replaced"
    retry_after = None
    fatal = True


class DatabaseCorrupt(StoreUnavailable):
    code = "database_corrupt"
    retry_after = None
    fatal = True


_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26
_SQLITE_READONLY_DBMOVED = 1032


def classify(error: sqlite3.Error, path: Path) -> StoreUnavailable | None:
    """The `StoreUnavailable` an SQLite error stands for, or None for an error in the
    caller's own SQL (a constraint, a syntax error), which stays as it was."""
    if isinstance(error, StoreUnavailable):
        return error
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseBusy(f"{path} is locked by another connection or process; try again shortly")
    if primary == _SQLITE_FULL or (primary == _SQLITE_IOERR and _disk_is_full(path)):
        return DiskFull(f"the disk holding {path} is full; free some space and the host goes on")
    if code == _SQLITE_READONLY_DBMOVED:
        return replaced(path)
    if primary == _SQLITE_READONLY:
        return DatabaseReadOnly(f"{path} cannot be written ({error}); check its permissions and disk")
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return DatabaseCorrupt(f"{path} is corrupt ({error}); restore it from a backup")
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return StoreUnavailable(f"{path} cannot be read or written ({error}); check the disk")
    return None


def _disk_is_full(path: Path) -> bool:
    """SQLite reports some writes a full disk refused (the shared-memory file's growth) as
    I/O errors: the free space says which they were."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024


def replaced(path: Path) -> DatabaseReplaced:
    return DatabaseReplaced(
        f"{path} was deleted or replaced while the host ran; it takes no more work: "
        "restart it to use the file now at that path"
    )


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Raise SQLite's refusals inside the block as the `StoreUnavailable` they stand for."""
    try:
        yield
    except sqlite3.Error as error:
        typed = classify(error, path)
        if typed is None or typed is error:
            raise
        raise typed from error


def busy_delays() -> Iterator[float]:
    """Waits between tries of a write the lock refused: short at first (another connection's
    commit ends within milliseconds), then at most a tenth of a second, jittered."""
    delay = 0.002
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(delay * 2, 0.1)
