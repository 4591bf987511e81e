"""Defect: a sync without an account syncs only the first account, in the same job, instead
of submitting one job per account (`ctx.fan_out_accounts`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from broken_connectors import reference
from enttok import JobContext, JobType, hookimpl


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = None
    page_size: int = Field(10, ge=1, le=100)


async def sync(ctx: JobContext, payload: Payload) -> dict[str, int]:
    account_id = payload.account_id or "conformance"
    return await reference.sync(
        ctx, reference.SyncPayload(account_id=account_id, page_size=payload.page_size)
    )


_, enttok_account_model, enttok_migrations = reference.hooks("syncs_first_account_only", sync)


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("syncs_first_account_only.sync", sync, Payload, max_attempts=5, timeout=120)]
