"""The host's own plugin, `maintenance`: it declares its job through the same hooks any
plugin uses, so the host has no job logic outside the plugin contract."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enttok import clock
from enttok.context import JobContext
from enttok.declarations import JobType, Schedule
from enttok.markers import hookimpl
from enttok.queue import TERMINAL
from enttok.store import transaction

NAME = "maintenance"
PRUNE_STEP = 500
"""Jobs deleted per transaction (with their events, a few each): a few milliseconds of lock."""
VACUUM_STEP = 256
"""Pages given back per step of the incremental vacuum (1 MiB at the default page size)."""
MAX_PAUSE = 0.05
ANALYSIS_LIMIT = 1000
INCREMENTAL = 2
"""`PRAGMA auto_vacuum`'s value for INCREMENTAL."""


class MaintenanceSettings(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    retention_days: float = Field(30, ge=0, description="Finished jobs older than this are pruned.")


class CompactPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    retention_days: float | None = Field(None, ge=0, description="Overrides the setting for this run.")
    vacuum: bool = Field(False, description="Rewrite the file to give freed pages back to the disk.")
    analyze: bool = Field(True, description="Refresh the query planner's statistics.")


def compact(ctx: JobContext, payload: CompactPayload) -> dict[str, Any]:
    """Prune finished jobs and their events, optionally VACUUM/ANALYZE, report integrity.

    Everything that writes goes in short steps, each its own transaction, with a pause as
    long as the step after it: the host's own writes (claims, submissions, progress) get
    the lock between steps, so jobs and requests keep flowing through a compaction of any
    size (bench/compact_bench.py measures it on a large history)."""
    settings = ctx.settings
    days = payload.retention_days if payload.retention_days is not None else settings.retention_days
    cutoff = clock.iso(clock.now() - timedelta(days=days))
    with ctx.db() as connection:
        jobs, events = _prune(ctx, connection, cutoff)
        ctx.progress(0.5, f"pruned {jobs} jobs and {events} events")
        if payload.analyze:
            # Statistics from a sample of each index: as good for the planner, and quick
            # however large the tables (a full ANALYZE holds the write lock while it reads all).
            connection.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
            connection.execute("ANALYZE")
        vacuumed = _vacuum(ctx, connection) if payload.vacuum else None
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    return {
        "deleted_jobs": jobs,
        "deleted_events": events,
        "analyzed": payload.analyze,
        "vacuumed": vacuumed is not None,
        "vacuum": vacuumed,
        "integrity_check": "ok" if problems == ["ok"] else problems,
    }


def _prune(ctx: JobContext, connection: sqlite3.Connection, cutoff: str) -> tuple[int, int]:
    """Delete finished jobs older than `cutoff` with their events, then old events of no job,
    PRUNE_STEP rows at a time."""
    finished = f"status IN ({', '.join(repr(status) for status in sorted(TERMINAL))}) AND finished_at < ?"
    jobs = events = 0
    while True:
        ctx.check_cancelled()
        with _step(), transaction(connection) as tx:
            ids = [
                row[0]
                for row in tx.execute(
                    f"SELECT job_id FROM jobs WHERE {finished} LIMIT ?", (cutoff, PRUNE_STEP)
                )
            ]
            if ids:
                marks = ", ".join("?" * len(ids))
                events += tx.execute(f"DELETE FROM job_events WHERE job_id IN ({marks})", ids).rowcount
                jobs += tx.execute(f"DELETE FROM jobs WHERE job_id IN ({marks})", ids).rowcount
        if len(ids) < PRUNE_STEP:
            break
    while True:
        ctx.check_cancelled()
        with _step(), transaction(connection) as tx:
            deleted = tx.execute(
                "DELETE FROM job_events WHERE seq IN (SELECT seq FROM job_events"
                " WHERE job_id IS NULL AND created_at < ? ORDER BY seq LIMIT ?)",
                (cutoff, PRUNE_STEP * 4),
            ).rowcount
        events += deleted
        if deleted < PRUNE_STEP * 4:
            return jobs, events


def _vacuum(ctx: JobContext, connection: sqlite3.Connection) -> str:
    """Give freed pages back to the disk, VACUUM_STEP pages per step (`incremental`).

    A database made before the host set `auto_vacuum = INCREMENTAL` on new files needs one
    full VACUUM to switch (`full`): it holds the write lock while it rewrites the file, so
    jobs wait for it (requests do not: the loop never waits on the lock). Once only."""
    if connection.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
        connection.execute("VACUUM")
        return "full"
    while connection.execute("PRAGMA freelist_count").fetchone()[0] > 0:
        ctx.check_cancelled()
        with _step():
            connection.execute(f"PRAGMA incremental_vacuum({VACUUM_STEP})").fetchall()
    return "incremental"


@contextmanager
def _step() -> Iterator[None]:
    """One step holding the write lock, then a pause as long (at most MAX_PAUSE) for others."""
    started = time.monotonic()
    yield
    time.sleep(min(time.monotonic() - started, MAX_PAUSE))


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType(
            "maintenance.compact",
            compact,
            CompactPayload,
            description="Prune old finished jobs and events; VACUUM/ANALYZE; PRAGMA integrity_check.",
            max_attempts=2,
            concurrency=1,
        )
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    return [Schedule("daily-compact", "maintenance.compact", interval=24 * 3600)]


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return MaintenanceSettings
