"""Plugin `timeline_seed`: writes timeline entries in the names of other connectors, as their
syncs would (loaded by the Claude tests through ENTTOK_PLUGIN_MODULES, never installed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from enttok import Activity, JobContext, JobType, hookimpl


class SeedPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[dict[str, Any]]


async def seed(ctx: JobContext, payload: SeedPayload) -> dict[str, int]:
    async with ctx.sync("seed") as page:
        page.activity(*(Activity.model_validate(entry) for entry in payload.entries))
    return {"written": len(payload.entries)}


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("timeline_seed.write", seed, SeedPayload, max_attempts=1)]
