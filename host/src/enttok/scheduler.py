"""Plugin schedules, run by APScheduler, each firing by enqueueing a job.

A schedule's job carries the dedupe key `schedule:<plugin>.<id>`, so a sync still queued or
running is not joined by another; runs missed while the machine slept are coalesced into
one, however late (`misfire_grace_time=None`). The host settings switch each schedule on or
off (`schedules`) and re-time an interval schedule (`schedule_intervals`), at once.

A schedule whose payload names an `account_id` the plugin does not have (deleted since, or
never added) is skipped, with one warning until the account exists again: a job would only
fail every interval. A schedule without one covers every account when its handler fans out
(`JobContext.fan_out_accounts`).
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
AccountMissing = Callable[[str, str], bool]
"""`(plugin, account_id) -> bool`: the plugin has accounts, and not this one."""


class Scheduler:
    def __init__(self, enqueue: Enqueue, account_missing: AccountMissing | None = None) -> None:
        self._enqueue = enqueue
        self._account_missing = account_missing
        self._scheduler: Any = None
        self._schedules: dict[str, Schedule] = {}
        self._plugins: dict[str, str] = {}
        self._skipping: set[str] = set()
        """Schedules skipped for a missing account, warned about once."""
        self._switches: dict[str, bool] = {}
        self._intervals: dict[str, int] = {}
        self._stopped = False
        self._triggers: tuple[Any, Any] | None = None

    def declare(
        self,
        schedules: Sequence[tuple[str, Schedule]],
        switches: Mapping[str, bool],
        intervals: Mapping[str, int] | None = None,
    ) -> None:
        """The plugins' schedules, known (and shown by `status`) before APScheduler runs them."""
        self._schedules = {f"{plugin}.{schedule.id}": schedule for plugin, schedule in schedules}
        self._plugins = {f"{plugin}.{schedule.id}": plugin for plugin, schedule in schedules}
        self._switches = dict(switches)
        self._intervals = dict(intervals or {})

    def interval(self, key: str) -> int | float | None:
        """Seconds between runs: the settings' interval, else the declared one (None: cron)."""
        declared = self._schedules[key].interval
        return None if declared is None else self._intervals.get(key, declared)

    async def start(self) -> None:
        """Run the declared schedules, once the host serves (`Host.start_schedules`, half a
        second after the ready line). APScheduler's imports run in a thread, so requests do
        not wait for them."""
        AsyncIOScheduler, *self._triggers = await asyncio.to_thread(_apscheduler)
        if self._stopped:
            return  # the host began to stop while APScheduler loaded
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        for key in self._schedules:
            self._scheduler.add_job(
                self._fire,
                self._trigger(key),
                args=(key,),
                id=key,
                name=key,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        self._scheduler.start()
        self.apply(self._switches, self._intervals)

    def _trigger(self, key: str) -> Any:
        CronTrigger, IntervalTrigger = self._triggers
        interval = self.interval(key)
        if interval is None:
            return CronTrigger.from_crontab(self._schedules[key].cron, timezone=UTC)
        return IntervalTrigger(seconds=interval, timezone=UTC)

    def apply(self, switches: Mapping[str, bool], intervals: Mapping[str, int] | None = None) -> None:
        """Pause or resume each schedule by the settings' switches (its default otherwise), and
        re-time those whose interval the settings changed (the next run counts from now)."""
        retimed = {
            key
            for key in self._schedules
            if self.interval(key) is not None and (intervals or {}).get(key) != self._intervals.get(key)
        }
        self._switches = dict(switches)
        self._intervals = dict(intervals or {})
        if self._scheduler is None:
            return
        for key in retimed:
            self._scheduler.reschedule_job(key, trigger=self._trigger(key))
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
            if await self._names_missing_account(key, schedule):
                return
            await self._enqueue(schedule.job_type, dict(schedule.payload), f"schedule:{key}")
        except Exception:
            log.exception("schedule %s could not enqueue %s", key, schedule.job_type)

    async def _names_missing_account(self, key: str, schedule: Schedule) -> bool:
        account_id = schedule.payload.get("account_id")
        if self._account_missing is None or not isinstance(account_id, str):
            return False
        if not await asyncio.to_thread(self._account_missing, self._plugins[key], account_id):
            self._skipping.discard(key)
            return False
        if key not in self._skipping:
            self._skipping.add(key)
            log.warning(
                "schedule %s skipped: %s has no account %r; it runs again once the account exists",
                key,
                self._plugins[key],
                account_id,
            )
        return True

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
                    "interval": self.interval(key),
                    "next_run_at": clock.iso(next_run) if next_run else None,
                }
            )
        running = self._scheduler is not None and bool(self._scheduler.running)
        return {"running": running, "jobs": jobs}


def _apscheduler() -> tuple[Any, Any, Any]:
    """AsyncIOScheduler, CronTrigger and IntervalTrigger, imported off the event loop."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    return AsyncIOScheduler, CronTrigger, IntervalTrigger
