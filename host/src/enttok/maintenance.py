"""The host's own plugin, `maintenance`: it declares its job through the same hooks any
plugin uses, so the host has no job logic outside the plugin contract."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enttok import clock
from enttok.context import JobContext
from enttok.declarations import JobType, Schedule
from enttok.markers import hookimpl
from enttok.queue import TERMINAL

NAME = "maintenance"


class MaintenanceSettings(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    retention_days: float = Field(30, ge=0, description="Finished jobs older than this are pruned.")


class CompactPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    retention_days: float | None = Field(None, ge=0, description="Overrides the setting for this run.")
    vacuum: bool = Field(False, description="Rewrite the file to give freed pages back to the disk.")
    analyze: bool = Field(True, description="Refresh the query planner's statistics.")


def compact(ctx: JobContext, payload: CompactPayload) -> dict[str, Any]:
    """Prune finished jobs and their events, optionally VACUUM/ANALYZE, report integrity."""
    settings = ctx.settings
    days = payload.retention_days if payload.retention_days is not None else settings.retention_days
    cutoff = clock.iso(clock.now() - timedelta(days=days))
    finished = f"status IN ({', '.join(repr(status) for status in sorted(TERMINAL))}) AND finished_at < ?"
    with ctx.transaction() as tx:
        events = tx.execute(
            f"DELETE FROM job_events WHERE job_id IN (SELECT job_id FROM jobs WHERE {finished})", (cutoff,)
        ).rowcount
        events += tx.execute(
            "DELETE FROM job_events WHERE job_id IS NULL AND created_at < ?", (cutoff,)
        ).rowcount
        jobs = tx.execute(f"DELETE FROM jobs WHERE {finished}", (cutoff,)).rowcount
    ctx.progress(0.5, f"pruned {jobs} jobs and {events} events")
    with ctx.db() as connection:
        if payload.analyze:
            connection.execute("ANALYZE")
        if payload.vacuum:
            connection.execute("VACUUM")
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    return {
        "deleted_jobs": jobs,
        "deleted_events": events,
        "analyzed": payload.analyze,
        "vacuumed": payload.vacuum,
        "integrity_check": "ok" if problems == ["ok"] else problems,
    }


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
