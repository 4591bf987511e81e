"""Plugin `fanner`: accounts, and `fanner.sync`, which without an account fans out one job
per account (`ctx.fan_out_accounts`) once the test lets it: it creates `<gate>.reached`,
then waits for `<gate>.go`, so a test can hold the database's write lock at that moment."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from enttok import JobContext, JobType, hookimpl

GATE_POLL = 0.01


class FannerAccount(BaseModel):
    name: str = ""


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = None
    gate: str = ""


async def sync(ctx: JobContext, payload: Payload) -> dict[str, object]:
    if payload.account_id is not None:
        return {"synced": payload.account_id}
    if payload.gate:
        await ctx.run_blocking(wait_at_gate, payload.gate)
    return {"submitted": await ctx.fan_out_accounts(payload)}


def wait_at_gate(gate: str) -> None:
    """Say the job is here, then wait (the job's timeout bounds it) until the test says go."""
    Path(f"{gate}.reached").touch()
    while not Path(f"{gate}.go").exists():
        time.sleep(GATE_POLL)


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return FannerAccount


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("fanner.sync", sync, Payload)]
