"""Defect: a sync that is not incremental: it stores the cursor but never starts from it, so
every sync fetches everything again."""

from __future__ import annotations

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    synced, after = 0, None
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                items, more = await session.page(after, payload.page_size)
                reference.store(page, ctx.plugin, account, items)
            after = str(items[-1]["seq"]) if items else after
            synced += len(items)
            if not more:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("full_refetch", sync)
