"""Plugin `timeline_reader`: writes timeline entries in several sources' names and reads the
timeline back through `JobContext.activity` (loaded by the tests through
ENTTOK_PLUGIN_MODULES, never installed)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from enttok import Activity, JobContext, JobType, hookimpl


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WritePayload(Strict):
    entries: list[dict[str, Any]]


class ReadPayload(Strict):
    start: AwareDatetime
    end: AwareDatetime
    source: str | None = None


async def write(ctx: JobContext, payload: WritePayload) -> dict[str, int]:
    async with ctx.sync("timeline") as page:
        page.activity(*(Activity.model_validate(entry) for entry in payload.entries))
    return {"written": len(payload.entries)}


async def read(ctx: JobContext, payload: ReadPayload) -> list[dict[str, Any]]:
    entries = ctx.activity(payload.start, payload.end, source=payload.source)
    return [entry.model_dump(mode="json") for entry in entries]


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType("timeline_reader.write", write, WritePayload, max_attempts=1),
        JobType("timeline_reader.read", read, ReadPayload, max_attempts=1),
    ]
