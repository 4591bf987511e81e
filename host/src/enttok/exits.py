"""The exit codes of `enttok serve`: what the desktop app (or any supervisor) can tell apart.

Every non-zero exit also prints one line starting `enttok: ` on stderr that says, for a
person, what went wrong and what to do; the code says which case it is, for a program.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    """Stopped as asked (SIGTERM, SIGINT, stdin closed with --parent-watch), nothing wrong."""
    UNEXPECTED = 1
    """A failure the host did not foresee; its log holds the traceback."""
    CONFIG = 2
    """The command line or an environment variable (BACKEND_PORT, BACKEND_TOKEN, RUN_ENV...)
    is wrong; the line names it."""
    DATA_DIR_LOCKED = 3
    """Another process is using APP_DATA_DIR: another host (the line gives its pid), or a
    program that held the database's write lock for longer than the host waits (5 s)."""
    DATABASE_UNUSABLE = 4
    """`data/index.db` is corrupt, truncated or not a database; it was left untouched."""
    DATA_DIR_NOT_WRITABLE = 5
    """APP_DATA_DIR (or its `data/` folder) cannot be created or written."""
    LOG_DIR_NOT_WRITABLE = 6
    """LOG_DIR cannot be created or written."""
    PORT_UNAVAILABLE = 7
    """BACKEND_PORT is in use by another process, or this user may not bind it."""
    DISK_FULL = 8
    """The disk holding the database is full: at start, or still full when the host stopped
    (nothing acknowledged is lost: jobs left running are re-queued at the next start)."""
    DATABASE_REPLACED = 9
    """`data/index.db` was deleted or replaced while the host ran; it stopped taking work
    then. Start it again to use the file now at that path."""
    DATABASE_FAILED = 10
    """The database kept failing (an I/O error, a read-only file, a lock never released)
    and the host stopped while it still did; the line says how."""


FOR_FAULT = {
    "disk_full": Exit.DISK_FULL,
    "database_replaced": Exit.DATABASE_REPLACED,
}
"""The exit code of a host stopped while `health` showed a fault with this code; any other
store or dispatcher fault exits `DATABASE_FAILED`."""
