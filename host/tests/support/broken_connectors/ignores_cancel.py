"""Defect: cancellation ignored: it fetches every page before it writes any, with no
`ctx.check_cancelled()` between the requests, so a canceled sync goes on asking the upstream
for pages (the host's own checkpoint, at the end of a `ctx.sync` block, comes too late)."""

from __future__ import annotations

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    items: list[dict] = []
    after, more = ctx.cursor(account.id), True
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        while more:
            fetched, more = await session.page(after, payload.page_size)
            items += fetched
            after = str(fetched[-1]["seq"]) if fetched else after
    async with ctx.sync(account.id) as page:
        reference.store(page, ctx.plugin, account, items)
    return {"synced": len(items)}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("ignores_cancel", sync)
