"""Defect: a sync without an account submits one job for each of `ctx.accounts()` by hand
(through the `PluginHost` its startup hook kept) instead of `ctx.fan_out_accounts`, so an
account that must sign in again is synced, and refused, every time the schedule fires."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from broken_connectors import reference
from enttok import JobContext, JobType, hookimpl
from enttok.plugin_host import PluginHost

kept: dict[str, PluginHost] = {}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = None
    page_size: int = Field(10, ge=1, le=100)


async def sync(ctx: JobContext, payload: Payload) -> dict[str, Any]:
    if payload.account_id is None:
        submitted = {}
        for account in ctx.accounts():
            job = await kept["host"].submit(ctx.job_type, {**payload.model_dump(), "account_id": account.id})
            submitted[account.id] = job["job_id"]
        return {"submitted": submitted}
    return await reference.sync(
        ctx, reference.SyncPayload(account_id=payload.account_id, page_size=payload.page_size)
    )


_, enttok_account_model, enttok_migrations = reference.hooks("fans_out_by_hand", sync)


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("fans_out_by_hand.sync", sync, Payload, max_attempts=5, timeout=120)]


@hookimpl
async def enttok_startup(host: PluginHost) -> None:
    kept["host"] = host
