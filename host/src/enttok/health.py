"""The host's health: whether it can do its work and, when it cannot, the fault in the way.

A fault is reported by the part that meets it (the store for a write the database refused,
the worker pool for a dispatcher that cannot claim) and cleared by that part once the same
work succeeds again. `/health`, `/status`, a `host.health` event and the exit code all read
it from here, so they cannot disagree:

- `ok`: nothing in the way.
- `degraded`: a fault the host retries on its own (a full disk, a write lock held elsewhere
  for longer than a request may wait); reads keep working, writes answer 503/507 naming it.
- `error`: a fault it cannot get past (the database file deleted or replaced under it): it
  takes no more work and, when stopped, exits with the fault's code (`enttok.exits`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from enttok import clock

log = logging.getLogger(__name__)

Status = Literal["ok", "degraded", "error"]


@dataclass(frozen=True)
class Fault:
    code: str
    """snake_case, the same code the refused requests answer with (`disk_full`, ...)."""
    message: str
    """One sentence for a person: what is wrong and what would fix it."""
    fatal: bool = False
    since: str = ""

    def view(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fatal": self.fatal, "since": self.since}


class Health:
    """The faults reported now, one per source (`store`, `dispatcher`).

    `on_change` is called (on the event loop) whenever the status or the fault shown
    changes; the host turns it into a `host.health` event."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self.on_change: Callable[[], None] = lambda: None

    @property
    def status(self) -> Status:
        if not self._faults:
            return "ok"
        return "error" if any(fault.fatal for fault in self._faults.values()) else "degraded"

    @property
    def fault(self) -> Fault | None:
        """The fault to show: a fatal one before any other, else the oldest."""
        if not self._faults:
            return None
        return min(self._faults.values(), key=lambda fault: (not fault.fatal, fault.since))

    @property
    def fatal(self) -> Fault | None:
        fault = self.fault
        return fault if fault is not None and fault.fatal else None

    def report(self, source: str, code: str, message: str, *, fatal: bool = False) -> None:
        current = self._faults.get(source)
        if current is not None and (current.fatal or (current.code == code and not fatal)):
            return  # already known; a fatal fault is never replaced by a lesser one
        self._faults[source] = Fault(code, message, fatal, clock.now_iso())
        (log.error if fatal else log.warning)("host %s: %s (%s)", self.status, message, code)
        self.on_change()

    def clear(self, source: str) -> None:
        """`source` worked again; a fatal fault stays (nothing short of a restart clears it)."""
        current = self._faults.get(source)
        if current is None or current.fatal:
            return
        del self._faults[source]
        log.warning("%s recovered from %s; host %s", source, current.code, self.status)
        self.on_change()

    def view(self) -> dict[str, Any]:
        fault = self.fault
        return {"status": self.status, "fault": fault.view() if fault else None}
