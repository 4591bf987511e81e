"""Logging to stderr and to a rotating file, with secrets scrubbed from every line.

The scrubbing is a net under the rule, not the rule: nothing should log a secret, and if
something does (a library echoing a header, an exception message) it is replaced here.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOG_FILE = "enttok.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: set[str]) -> None:
        super().__init__(FORMAT)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            if secret and secret in text:
                text = text.replace(secret, "<redacted>")
        return text


_secrets: set[str] = set()


def redact(secret: str) -> None:
    """Never let `secret` reach a log line from here on."""
    if secret:
        _secrets.add(secret)


def setup(log_dir: Path, level: int = logging.INFO) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    formatter = RedactingFormatter(_secrets)
    file_handler = logging.handlers.RotatingFileHandler(
        log_dir / LOG_FILE, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
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
