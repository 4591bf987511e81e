"""Defect: the sync's payload names its account `account`, not `account_id`. Its syncs work,
and `ctx.fan_out_accounts(payload, field="account")` even covers every account, but the host
finds the account of a sync by its payload's `account_id`, so no account shows a last sync.
(The checks of a sync without an account, which leave `account_id` out, fail on it too.)"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from broken_connectors import reference
from enttok import JobContext, JobType, hookimpl


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = None
    page_size: int = Field(10, ge=1, le=100)


async def sync(ctx: JobContext, payload: Payload) -> dict[str, Any]:
    if payload.account is None:
        return {"submitted": await ctx.fan_out_accounts(payload, field="account")}
    return await reference.sync(
        ctx, reference.SyncPayload(account_id=payload.account, page_size=payload.page_size)
    )


_, enttok_account_model, enttok_migrations = reference.hooks("names_account_otherwise", sync)


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("names_account_otherwise.sync", sync, Payload, max_attempts=5, timeout=120)]
