"""Defect: a secret leaked: the account's client secret (not a token the upstream issued) is
written to the job's log, hence to the events, the log file and the database."""

from __future__ import annotations

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    ctx.log(f"signing in with client secret {account.secret('client_secret')}")
    return await reference.sync(ctx, payload)


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("leaks_secret", sync)
