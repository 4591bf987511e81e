"""Defect: a sync that never finishes: after its first page it waits for something that never
comes (a cancel ends the wait, so the host still stops promptly)."""

from __future__ import annotations

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        async with ctx.sync(account.id) as page:
            items, _ = await session.page(page.cursor, payload.page_size)
            reference.store(page, ctx.plugin, account, items)
        ctx.progress(0.1, "waiting for the next page token")
        await ctx.sleep(3600)
    return {"synced": len(items)}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("never_finishes", sync)
