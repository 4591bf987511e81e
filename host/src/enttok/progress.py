"""Writing a running job's progress: advisory, so it never fails the job.

A handler may report progress while another connection holds the write lock (a sync page
committing, a compaction step) or while the disk is full. A report the lock refused is
tried again shortly, merged with any later one; a report refused otherwise is dropped (the
job's outcome is written when it ends, and says all that matters).
"""

from __future__ import annotations

import asyncio
import logging

from enttok import clock
from enttok.events import EventBus
from enttok.store import Database
from enttok.store_faults import DatabaseBusy, StoreUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER = 0.1
"""Seconds before a report the write lock refused is tried again."""


class ProgressWriter:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus
        self._unwritten: dict[str, tuple[float | None, str | None]] = {}

    def report(self, job_id: str, progress: float | None, message: str | None) -> None:
        """Write it now, on the loop's connection, or keep it for the retry; never raises."""
        if job_id in self._unwritten:
            previous_progress, previous_message = self._unwritten.pop(job_id)
            progress = progress if progress is not None else previous_progress
            message = message if message is not None else previous_message
        try:
            with self._db.transaction() as tx:
                changed = tx.execute(
                    "UPDATE jobs SET progress = coalesce(?, progress), message = coalesce(?, message),"
                    " updated_at = ? WHERE job_id = ? AND status = 'running'",
                    (progress, message, clock.now_iso(), job_id),
                ).rowcount
                event = (
                    self._bus.record(tx, "job.progress", job_id=job_id, progress=progress, message=message)
                    if changed
                    else None  # the attempt ended while this report waited
                )
        except DatabaseBusy:
            if not self._unwritten:
                asyncio.get_running_loop().call_later(RETRY_AFTER, self._retry)
            self._unwritten[job_id] = (progress, message)
            return
        except StoreUnavailable as error:
            log.debug("progress of %s not written: %s", job_id, error)
            return
        if event is not None:
            self._bus.publish([event])

    def _retry(self) -> None:
        unwritten, self._unwritten = self._unwritten, {}
        for job_id, (progress, message) in unwritten.items():
            self.report(job_id, progress, message)
