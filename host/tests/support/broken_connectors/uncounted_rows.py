"""Defect: rows written with a hand-made upsert (`page.execute`) instead of `page.upsert`.
They are stored, with their cursor, in the page's transaction, but only `page.upsert`
counts rows, so the account's last sync says it stored none."""

from __future__ import annotations

from typing import Any

from broken_connectors import reference
from enttok import JobContext
from enttok.accounts import Account
from enttok.sync import SyncPage

UPSERT = (
    "INSERT INTO uncounted_rows_items (account_id, item_id, title, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (account_id, item_id) DO UPDATE SET title = excluded.title, updated_at = excluded.updated_at"
)


def store(page: SyncPage, account: Account, items: list[dict[str, Any]]) -> None:
    for item in items:
        page.execute(UPSERT, (account.id, item["id"], item["title"], item["updated_at"]))
    page.activity(*(reference.entry(account, item) for item in items))
    if items:
        page.advance(str(items[-1]["seq"]))


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    synced = 0
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                items, more = await session.page(page.cursor, payload.page_size)
                store(page, account, items)
            synced += len(items)
            if not more:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("uncounted_rows", sync)
