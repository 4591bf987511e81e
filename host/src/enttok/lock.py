"""One data dir, one host: an exclusive OS lock on a file beside the database.

The OS drops the lock when the process dies however it dies, so a crash never leaves a
stale lock behind, and a second host finds out for certain rather than guessing from a pid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from enttok.store import NotWritable


class DataDirLocked(RuntimeError):
    pass


class DataDirLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise NotWritable(f"{self.path} cannot be created ({error.strerror})") from None
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            holder = self.path.read_text().strip() or "another process"
            raise DataDirLocked(
                f"another enttok host (pid {holder}) is already using {self.path.parent.parent}; "
                "stop it first or point APP_DATA_DIR elsewhere"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
