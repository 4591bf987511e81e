"""The correct connector the broken ones are made from: the demo connector's sync for any
plugin name, cut into the pieces a broken module reassembles with its one defect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from enttok import AuthFailed, JobContext, JobType, Migration, RetryableError, hookimpl
from enttok.accounts import Account
from enttok.oauth import refresh_access_token
from enttok.sync import Activity, SyncPage

Handler = Callable[[JobContext, "SyncPayload"], Awaitable[Any]]


class Settings(BaseModel):
    base_url: str
    refresh_token: SecretStr | None = None
    client_secret: SecretStr | None = Field(None, description="A secret the sync itself never needs.")


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(min_length=1)
    page_size: int = Field(10, ge=1, le=100)


def hooks(name: str, handler: Handler, *extra_migrations: Migration) -> tuple[Callable[..., Any], ...]:
    """`enttok_job_types`, `enttok_account_model` and `enttok_migrations` for plugin `name`."""

    @hookimpl
    def enttok_job_types() -> list[JobType]:
        return [JobType(f"{name}.sync", handler, SyncPayload, max_attempts=5, timeout=120)]

    @hookimpl
    def enttok_account_model() -> type[BaseModel]:
        return Settings

    @hookimpl
    def enttok_migrations() -> list[Migration]:
        items = (
            f"CREATE TABLE {name}_items (account_id TEXT NOT NULL, item_id TEXT NOT NULL,"
            " title TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (account_id, item_id))"
        )
        return [Migration(1, items, "synced items"), *extra_migrations]

    return enttok_job_types, enttok_account_model, enttok_migrations


class Session:
    """A signed-in client of the demo API: pages by `after`, refreshing once on a 401."""

    def __init__(self, http: httpx.AsyncClient, account: Account, token: str) -> None:
        self.http, self.account, self.token = http, account, token

    async def page(self, after: str | None, size: int) -> tuple[list[dict[str, Any]], bool]:
        for retry in (False, True):
            response = await self.http.get(
                "/items",
                params={"after": int(after or 0), "limit": size},
                headers={"Authorization": f"Bearer {self.token}"},
            )
            if response.status_code != 401:
                break
            if retry:
                raise AuthFailed("a fresh access token was refused", account_id=self.account.id)
            self.token = await refresh_access_token(self.http, self.account, force=True)
        response.raise_for_status()
        try:
            body = response.json()
            return body["items"], bool(body["has_more"])
        except (ValueError, KeyError) as error:
            raise RetryableError(f"unreadable page: {error}", code="bad_page") from None


async def sign_in(http: httpx.AsyncClient, account: Account) -> Session:
    return Session(http, account, await refresh_access_token(http, account))


def client(ctx: JobContext, account: Account) -> httpx.AsyncClient:
    return ctx.http("demo", account.id, base_url=account.settings.base_url)


def store_rows(page: SyncPage, plugin: str, account: Account, items: list[dict[str, Any]]) -> None:
    rows = [
        {"account_id": account.id, "item_id": i["id"], "title": i["title"], "updated_at": i["updated_at"]}
        for i in items
    ]
    page.upsert(f"{plugin}_items", rows, key=("account_id", "item_id"))


def entry(account: Account, item: dict[str, Any], external_id: str | None = None) -> Activity:
    return Activity(
        account_id=account.id,
        external_id=external_id or item["id"],
        event_type="item.updated",
        event_time=datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")),
        title=item["title"],
    )


def store(page: SyncPage, plugin: str, account: Account, items: list[dict[str, Any]]) -> None:
    """A page's rows, timeline entries and cursor, together."""
    store_rows(page, plugin, account, items)
    page.activity(*(entry(account, item) for item in items))
    if items:
        page.advance(str(items[-1]["seq"]))


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, int]:
    """The correct sync, which each broken module changes in one place."""
    account = ctx.account(payload.account_id)
    synced = 0
    async with client(ctx, account) as http:
        session = await sign_in(http, account)
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                items, more = await session.page(page.cursor, payload.page_size)
                store(page, ctx.plugin, account, items)
            synced += len(items)
            if not more:
                return {"synced": synced}
