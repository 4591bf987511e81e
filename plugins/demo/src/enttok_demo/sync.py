"""`demo.sync`: the reference connector job. It shows each part of the connector kit:

- every account on one schedule (`ctx.fan_out_accounts`), each synced by a job of its own;
- the account (`ctx.account`), whose refresh token is a secret the keyring holds;
- OAuth refresh with token rotation (`enttok.oauth`), the new refresh token saved first and
  the access token reused until it expires (forced anew when the API refuses it);
- the host's HTTP client (`ctx.http`), sharing one rate-limit budget per account;
- a cursor committed with the rows and timeline entries it covers (`ctx.sync`);
- the failure kinds: AuthFailed for refused credentials, RetryableError for bad pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enttok import Activity, AuthFailed, JobContext, RetryableError
from enttok.oauth import refresh_access_token
from enttok_demo import SyncPayload


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, Any]:
    if payload.account_id is None:
        return {"submitted": await ctx.fan_out_accounts(payload)}
    account = ctx.account(payload.account_id)
    synced = 0
    async with ctx.http("demo", account.id, base_url=account.settings.base_url) as http:
        access_token = await refresh_access_token(http, account)
        refreshed_for_this_page = False
        while True:
            ctx.check_cancelled()
            async with ctx.sync(scope=account.id) as page:
                after = int(page.cursor or 0)
                response = await http.get(
                    "/items",
                    params={"after": after, "limit": payload.page_size},
                    headers={"Authorization": f"Bearer {access_token}"},
                )
                if response.status_code == 401 and not refreshed_for_this_page:
                    access_token = await refresh_access_token(http, account, force=True)
                    refreshed_for_this_page = True
                    continue  # the same page again, with a fresh token
                if response.status_code == 401:
                    raise AuthFailed("the demo API refused a fresh access token", account_id=account.id)
                response.raise_for_status()
                try:
                    body = response.json()
                    items = body["items"]
                except (ValueError, KeyError) as error:
                    raise RetryableError(
                        f"the demo API sent an unreadable page: {error}", code="bad_page"
                    ) from None
                page.upsert(
                    "demo_items",
                    [
                        {
                            "account_id": account.id,
                            "item_id": item["id"],
                            "seq": item["seq"],
                            "title": item["title"],
                            "author": item["author"],
                            "updated_at": item["updated_at"],
                        }
                        for item in items
                    ],
                    key=("account_id", "item_id"),
                )
                page.activity(
                    *(
                        Activity(
                            account_id=account.id,
                            external_id=item["id"],
                            event_type="item.updated",
                            event_time=datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")),
                            title=item["title"],
                            actor=item["author"],
                            url=f"{account.settings.base_url}/items/{item['id']}",
                        )
                        for item in items
                    )
                )
                if items:
                    page.advance(str(items[-1]["seq"]))
            refreshed_for_this_page = False
            synced += len(items)
            ctx.progress(message=f"synced {synced} items")
            if not body.get("has_more"):
                return {"synced": synced}
