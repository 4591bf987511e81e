"""Defect: a blocking call in an async handler (`time.sleep` between pages), which holds the
host's event loop: no request is answered and no other job runs meanwhile."""

from __future__ import annotations

import time

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
                reference.store(page, ctx.plugin, account, items)
            synced += len(items)
            time.sleep(0.5)  # noqa: ASYNC251 -- the defect, which the project's ruff flags too
            if not more:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("blocking_sleep", sync)
