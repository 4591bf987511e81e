"""Defect: an unprefixed table created at run time (a fetch log outside `runtime_table_*`),
which no migration check sees."""

from __future__ import annotations

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    with ctx.db() as db:
        db.execute("CREATE TABLE IF NOT EXISTS fetch_log (account_id TEXT, at TEXT)")
        db.execute("INSERT INTO fetch_log VALUES (?, datetime('now'))", (payload.account_id,))
    return await reference.sync(ctx, payload)


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("runtime_table", sync)
