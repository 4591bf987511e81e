"""Defect: a blocking HTTP client in an async handler (`httpx.Client`, as `requests` would be):
while the upstream takes its time over a page, the host's event loop waits with it."""

from __future__ import annotations

import httpx

from broken_connectors import reference
from enttok import JobContext
from enttok.oauth import refresh_access_token


async def sync(ctx: JobContext, payload: reference.SyncPayload) -> dict[str, int]:
    account = ctx.account(payload.account_id)
    async with reference.client(ctx, account) as http:
        token = await refresh_access_token(http, account)
    synced = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=account.settings.base_url, headers=headers, trust_env=False) as blocking:
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                params = {"after": int(page.cursor or 0), "limit": payload.page_size}
                # the defect, which the project's ruff flags too (ASYNC212):
                body = blocking.get("/items", params=params).raise_for_status().json()  # noqa: ASYNC212
                reference.store(page, ctx.plugin, account, body["items"])
            synced += len(body["items"])
            if not body["has_more"]:
                return {"synced": synced}


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks("blocking_client", sync)
