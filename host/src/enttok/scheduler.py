"""Plugin schedules, run by APScheduler, each firing by enqueueing a job.

A schedule's job carries the dedupe key `schedule:<plugin>.<id>`, so a sync still queued or
running is not joined by another; runs missed while the machine slept are coalesced into
one, however late (`misfire_grace_time=None`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from typing import Any

from enttok import clock
from enttok.declarations import Schedule

log = logging.getLogger(__name__)

Enqueue = Callable[[str, dict[str, Any], str], Awaitable[None]]


class Scheduler:
    def __init__(self, enqueue: Enqueue) -> None:
        self._enqueue = enqueue
        self._scheduler: Any = None
        self._schedules: dict[str, Schedule] = {}
        self._switches: dict[str, bool] = {}
        self._stopped = False

    def declare(self, schedules: Sequence[tuple[str, Schedule]], switches: Mapping[str, bool]) -> None:
        """The plugins' schedules, known (and shown by `status`) before APScheduler runs them."""
        self._schedules = {f"{plugin}.{schedule.id}": schedule for plugin, schedule in schedules}
        self._switches = dict(switches)

    async def start(self) -> None:
        """Run the declared schedules, once the host serves. APScheduler (some 10 ms of
        imports) loads in a thread meanwhile, so the requests that come right after the ready
        line do not wait for it."""
        AsyncIOScheduler, CronTrigger, IntervalTrigger = await asyncio.to_thread(_apscheduler)
        if self._stopped:
            return  # the host began to stop while APScheduler loaded
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        for key, schedule in self._schedules.items():
            trigger = (
                IntervalTrigger(seconds=schedule.interval, timezone=UTC)
                if schedule.interval is not None
                else CronTrigger.from_crontab(schedule.cron, timezone=UTC)
            )
            self._scheduler.add_job(
                self._fire,
                trigger,
                args=(key,),
                id=key,
                name=key,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self._scheduler.start()
        self.apply(self._switches)

    def apply(self, switches: Mapping[str, bool]) -> None:
        """Pause or resume each schedule by the settings' switches (its default otherwise)."""
        self._switches = dict(switches)
        if self._scheduler is None:
            return
        for key, schedule in self._schedules.items():
            if switches.get(key, schedule.enabled):
                self._scheduler.resume_job(key)
            else:
                self._scheduler.pause_job(key)

    async def _fire(self, key: str) -> None:
        # A coroutine on purpose: APScheduler runs plain functions in a thread pool, and the
        # queue is only ever touched from the event loop's thread.
        schedule = self._schedules[key]
        try:
            await self._enqueue(schedule.job_type, dict(schedule.payload), f"schedule:{key}")
        except Exception:
            log.exception("schedule %s could not enqueue %s", key, schedule.job_type)

    def shutdown(self) -> None:
        self._stopped = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def status(self) -> dict[str, Any]:
        """Every declared schedule; before APScheduler runs (it starts after the ready line)
        none has a next run yet."""
        jobs = []
        for key, schedule in self._schedules.items():
            job = self._scheduler.get_job(key) if self._scheduler is not None else None
            next_run = job.next_run_time if job is not None else None
            jobs.append(
                {
                    "id": key,
                    "job_type": schedule.job_type,
                    "enabled": self._switches.get(key, schedule.enabled),
                    "next_run_at": clock.iso(next_run) if next_run else None,
                }
            )
        running = self._scheduler is not None and bool(self._scheduler.running)
        return {"running": running, "jobs": jobs}


def _apscheduler() -> tuple[Any, Any, Any]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    return AsyncIOScheduler, CronTrigger, IntervalTrigger
