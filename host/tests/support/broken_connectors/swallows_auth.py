"""Defect: an auth failure swallowed: the handler catches `AuthFailed` and reports success, so
the account never shows that it needs a new sign-in."""

from __future__ import annotations

from broken_connectors import reference
from enttok import AuthFailed, JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    try:
        return await reference.sync(ctx, payload)
    except AuthFailed as error:
        ctx.log(f"could not sign in, skipping this time: {error}", level="warning")
        return {"synced": 0}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("swallows_auth", sync)
