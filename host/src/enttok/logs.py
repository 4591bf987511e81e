"""Logging to stderr and to a rotating file, with secrets scrubbed from every line.

The scrubbing is a net under the rule, not the rule: nothing should log a secret, and if
something does (a library echoing a header, an exception message) it is replaced here:
- every URL query string (`/events?token=...`, a connector's `?key=...`), in whatever
  percent-encoding, since a query parameter is where a secret can hide under another spelling;
- the host token, for the life of the process;
- the account secrets in use: registered when read or written, forgotten when replaced or
  deleted, at most `MAX_TRACKED` of them (the least recently used go first). A value shorter
  than `MIN_SECRET_LENGTH` is not scrubbed: it would blank out common text (a one-character
  secret would redact every `e`), and a secret that short protects nothing anyway.

A log file that cannot be written (its disk is full) is said once on stderr, and again when
it can be written again, instead of a traceback for every line (`LogFile`); stderr keeps
every line meanwhile.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading
from collections import OrderedDict
from pathlib import Path

LOG_FILE = "enttok.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 8
MAX_TRACKED = 256

# A query string after a path or URL: `?` preceded by a non-space, followed by `name=`.
_QUERY = re.compile(r"(?<=[^\s?])\?(?=[^\s\"'<>?]*=)[^\s\"'<>]*")


class Scrubber:
    """The secrets to scrub, as one compiled pattern rebuilt only when they change."""

    def __init__(self) -> None:
        self._pinned: set[str] = set()
        self._tracked: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def pin(self, secret: str) -> None:
        if len(secret) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._pinned.add(secret)
                self._pattern = None

    def track(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._tracked:
                self._tracked.move_to_end(secret)
                return
            self._tracked[secret] = None
            while len(self._tracked) > MAX_TRACKED:
                self._tracked.popitem(last=False)
            self._pattern = None

    def forget(self, secret: str) -> None:
        with self._lock:
            if self._tracked.pop(secret, 0) is None:
                self._pattern = None

    def __len__(self) -> int:
        return len(self._pinned) + len(self._tracked)

    def scrub(self, text: str) -> str:
        text = _QUERY.sub("?" + REDACTED, text) if "?" in text else text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                secrets = sorted(self._pinned | set(self._tracked), key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, secrets)) or r"(?!)")
        return pattern.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__(FORMAT)
        self.scrubber = scrubber

    def format(self, record: logging.LogRecord) -> str:
        return self.scrubber.scrub(super().format(record))


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file, which reports its own failure once rather than per line."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
        self.failing: str | None = None
        """Why the last line could not be written, until one can again."""
        self._failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)  # a failure comes back through handleError
        if self.failing is not None and not self._failed_now:
            _say(f"{self.baseFilename} is written again; the lines in between are on stderr only")
            self.failing = None

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        error = sys.exc_info()[1]
        if self.failing is None:
            self.failing = str(error) or type(error).__name__
            _say(
                f"{self.baseFilename} cannot be written ({self.failing}); log lines go to stderr only until it can"
            )


def _say(message: str) -> None:
    """One line on stderr in the log's own format, from the log file's handler (which cannot
    log through itself)."""
    record = logging.LogRecord("enttok.logs", logging.WARNING, __file__, 0, message, None, None)
    try:
        sys.stderr.write(logging.Formatter(FORMAT).format(record) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


scrubber = Scrubber()


def redact(secret: str) -> None:
    """Never let `secret` (the host token) reach a log line from here on."""
    scrubber.pin(secret)


def track_secret(secret: str) -> None:
    """Scrub `secret` (an account secret in use) until it is forgotten or crowded out."""
    scrubber.track(secret)


def forget_secret(secret: str) -> None:
    """`secret` was replaced or deleted: it can no longer appear, so stop looking for it."""
    scrubber.forget(secret)


def setup(log_dir: Path, level: int = logging.INFO) -> None:
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    formatter = RedactingFormatter(scrubber)
    file_handler = LogFile(log_dir / LOG_FILE)
    stderr_handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    for handler in (file_handler, stderr_handler):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("enttok").setLevel(level)
    # uvicorn's access log would write every query string, and with it a WebSocket ?token=;
    # httpx logs every URL a connector requests, and some APIs take keys in the query.
    logging.getLogger("uvicorn.access").disabled = True
    for chatty in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
