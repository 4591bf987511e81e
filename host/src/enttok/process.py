"""What the host sets on its own process before it opens anything: files only its user can
read, and room for as many open files as the system allows.

Activity, account metadata and logs are private: every file the host (or a plugin) creates
is `0600` and every directory `0700`, as `secrets.enc` always was. What an older host left
with wider modes is narrowed at start. The open-file limit matters because every
connection costs a descriptor: the soft limit is raised to the hard one where the system
allows, and the connection cap (`enttok.api.connections`) stays below it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from enttok import logs
from enttok.config import RuntimeConfig

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
#: Where the hard limit is "unlimited", what to ask for (macOS refuses more than OPEN_MAX).
UNLIMITED_TARGETS = (65536, 10240)


def make_private(config: RuntimeConfig) -> None:
    """A umask of 077 for the process, and what the host owns narrowed to it: `data/` and
    `cache/` with the files in them, and the log files (the log dir too when it is the
    default one, inside the data dir: a LOG_DIR chosen elsewhere may be shared)."""
    os.umask(PRIVATE_UMASK)
    for directory in (config.database_path.parent, config.cache_dir):
        _narrow(directory, 0o700)
        for path in _files_in(directory):
            _narrow(path, 0o600)
    if config.log_dir.is_relative_to(config.data_dir):
        _narrow(config.log_dir, 0o700)
    for path in _files_in(config.log_dir):
        if path.name.startswith(logs.LOG_FILE):
            _narrow(path, 0o600)


def _files_in(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_file() and not path.is_symlink()]
    except OSError:
        return []


def _narrow(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it exists, is ours and is wider; never fails the start."""
    with contextlib.suppress(OSError):
        status = path.lstat()
        if status.st_uid == os.getuid() and status.st_mode & 0o777 & ~mode:
            os.chmod(path, mode)


def raise_open_file_limit() -> int | None:
    """Raise the soft RLIMIT_NOFILE as far as allowed; the soft limit afterwards (None
    where the platform has no such limit)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    targets = [hard] if hard != resource.RLIM_INFINITY else list(UNLIMITED_TARGETS)
    for target in targets:
        if soft != resource.RLIM_INFINITY and target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        log.info("open-file limit raised from %d to %d", soft, target)
        return target
    return soft
