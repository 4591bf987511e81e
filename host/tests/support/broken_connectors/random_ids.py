"""Defect: timeline entries with a random `external_id`, which duplicate on every re-fetch."""

from __future__ import annotations

import uuid

from broken_connectors import reference
from enttok import JobContext


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    synced = 0
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                items, more = await session.page(page.cursor, payload.page_size)
                reference.store_rows(page, ctx.plugin, account, items)
                page.activity(*(reference.entry(account, item, uuid.uuid4().hex) for item in items))
                if items:
                    page.advance(str(items[-1]["seq"]))
            synced += len(items)
            if not more:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("random_ids", sync)
