"""Defect: rows kept in a table keyed by `owner`, not `account_id`, with no
`enttok_account_deleted` hook, so deleting the account leaves them behind."""

from __future__ import annotations

from typing import Any

from broken_connectors import reference
from enttok import JobContext, Migration
from enttok.accounts import Account
from enttok.sync import SyncPage

OWNED = (
    "CREATE TABLE keeps_deleted_rows_owned (owner TEXT NOT NULL, item_id TEXT NOT NULL,"
    " title TEXT NOT NULL, PRIMARY KEY (owner, item_id))"
)


def store_rows(page: SyncPage, account: Account, items: list[dict[str, Any]]) -> None:
    rows = [{"owner": account.id, "item_id": i["id"], "title": i["title"]} for i in items]
    page.upsert("keeps_deleted_rows_owned", rows, key=("owner", "item_id"))


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    synced = 0
    async with reference.client(ctx, account) as http:
        session = await reference.sign_in(http, account)
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                items, more = await session.page(page.cursor, payload.page_size)
                store_rows(page, account, items)
                page.activity(*(reference.entry(account, item) for item in items))
                if items:
                    page.advance(str(items[-1]["seq"]))
            synced += len(items)
            if not more:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks(
    "keeps_deleted_rows", sync, Migration(2, OWNED, "rows keyed by owner")
)
