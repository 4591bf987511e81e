"""`github.sync`: one account's issues, pull requests and events, incrementally.

Three steps, each page committed with what it covers (`ctx.sync`: rows, timeline entries,
cursor, ETag), so a sync killed anywhere resumes where its last page left off:

1. **Who**: `GET /user`, conditional on its ETag: a `304` costs no rate limit, and the
   login is then read from `github_users`.
2. **Involved in**: the search API, `involves:<login> updated:>=<since>`, oldest first.
   Search stops at 1,000 results and sends no ETag. Each page here is a fresh search from
   the last `updated` the previous page ended on, so no search pages past its first 100
   results and the cap never bites however many items the window holds; the cursor is
   that time. Only when a whole page shares one `updated` second does it follow the
   `Link` to the next page of the same search. Search has its own budget (30 requests a
   minute), kept by the kit under the provider `github.search`.
3. **Did**: `GET /users/<login>/events` (newest first, at most 300, `Link` pages), its first
   page conditional on the ETag of the last sync. Events newer than the cursor are stored
   in one page with the new cursor and ETag: a sync killed half-way fetches them again.
   Push events no longer carry their commit count; the compare API gives it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from enttok import Account, JobContext, RetryableError, SyncPage
from enttok_github import SyncPayload
from enttok_github.activity import (
    closed_pull,
    event_activity,
    event_row,
    item_activity,
    item_row,
    parse_time,
    push_range,
)
from enttok_github.client import CORE, SEARCH, client_options, get, json_body, signed_in, web_url

INDEX_LAG = timedelta(minutes=5)
"""GitHub's search index trails writes: each sync searches again from this long before
where the last one ended, so an item indexed late is not skipped (its row is upserted)."""
EVENT_PAGES = 3  # the events API serves at most 300 events, 100 a page
SEARCH_SHARE = 0.9  # of a sync's progress: the search step, by the time it has covered


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, Any]:
    if payload.account_id is None:
        return {"submitted": await ctx.fan_out_accounts(payload, field="account_id")}
    account = ctx.account(payload.account_id)
    window_start = datetime.now(UTC) - timedelta(days=ctx.settings.window_days)
    options = client_options(account)
    async with (
        ctx.http(CORE, account.id, **options) as core,
        ctx.http(SEARCH, account.id, **options) as search,
    ):
        login = await signed_in_user(ctx, core, account)
        items = await sync_involved(ctx, search, account, login, window_start, payload.page_size)
        events = await sync_events(ctx, core, account, login, window_start)
    return {"login": login, "items": items, "events": events}


async def signed_in_user(ctx: JobContext, http: httpx.AsyncClient, account: Account) -> str:
    with ctx.db() as db:
        known = db.execute(
            "SELECT u.login, e.etag FROM github_users u JOIN github_etags e"
            " ON e.account_id = u.account_id AND e.resource = 'user' WHERE u.account_id = ?",
            (account.id,),
        ).fetchone()
    response = await get(http, "/user", account=account, etag=known[1] if known else None)
    if response.status_code == 304 and known:
        return known[0]
    user = signed_in(response, account)
    async with ctx.sync(f"{account.id}/user") as page:
        page.upsert(
            "github_users",
            [
                {
                    "account_id": account.id,
                    "login": user["login"],
                    "name": user.get("name"),
                    "url": user.get("html_url"),
                    "scopes": response.headers.get("x-oauth-scopes"),
                }
            ],
            key=("account_id",),
        )
        _save_etag(page, account.id, "user", response)
    return user["login"]


@dataclass
class SearchPosition:
    """Where the search stands: items updated at or after `since`, on `page` of that search."""

    since: datetime
    page: int = 1

    @classmethod
    def load(cls, cursor: str | None, window_start: datetime) -> SearchPosition:
        if cursor is None:
            return cls(window_start)
        saved = json.loads(cursor)
        return cls(parse_time(saved["since"]), saved["page"])

    def dump(self) -> str:
        return json.dumps({"since": _iso(self.since), "page": self.page})


async def sync_involved(
    ctx: JobContext,
    http: httpx.AsyncClient,
    account: Account,
    login: str,
    window_start: datetime,
    page_size: int,
) -> int:
    fetched: set[int] = set()  # a page starts again on the second the last one ended on
    overlap = True
    started, now = None, datetime.now(UTC)
    while True:
        ctx.check_cancelled()
        async with ctx.sync(f"{account.id}/search") as page:
            position = SearchPosition.load(page.cursor, window_start)
            since = position.since
            if overlap and page.cursor is not None and position.page == 1:
                since -= INDEX_LAG
            overlap = False
            started = started or since
            items, has_next = await search_page(http, account, login, since, position.page, page_size)
            page.upsert(
                "github_items", [item_row(account.id, i) for i in items], key=("account_id", "item_id")
            )
            page.activity(*[a for i in items for a in item_activity(account.id, login, i, window_start)])
            following, more = next_position(position, since, items, page_size, has_next)
            page.advance(following.dump())
        fetched.update(i["id"] for i in items)
        covered = (following.since - started) / max(now - started, timedelta(seconds=1))
        ctx.progress(
            SEARCH_SHARE * min(1.0, max(0.0, covered)),
            message=f"{len(fetched)} issues and pull requests, updated up to {following.since:%Y-%m-%d %H:%M} UTC",
        )
        if not more:
            return len(fetched)


async def search_page(
    http: httpx.AsyncClient, account: Account, login: str, since: datetime, number: int, page_size: int
) -> tuple[list[dict[str, Any]], bool]:
    """One page of `involves:<login> updated:>=<since>`, oldest first; and whether a `Link`
    leads to the next page of the same search."""
    response = await get(
        http,
        "/search/issues",
        account=account,
        provider=SEARCH,
        params={
            "q": f"involves:{login} updated:>={_iso(since)}",
            "sort": "updated",
            "order": "asc",
            "per_page": page_size,
            "page": number,
        },
    )
    body = json_body(response, "a page of search results")
    if body.get("incomplete_results"):
        raise RetryableError(
            "GitHub's search timed out and sent partial results; the sync tries again shortly",
            code="search_incomplete",
        )
    items = body.get("items")
    if not isinstance(items, list):
        raise RetryableError("GitHub sent search results without items", code="bad_page")
    return items, "next" in response.links


def next_position(
    position: SearchPosition, since: datetime, items: list[dict[str, Any]], page_size: int, has_next: bool
) -> tuple[SearchPosition, bool]:
    """Where the next page starts, and whether there is one."""
    last = parse_time(items[-1]["updated_at"]) if items else position.since
    if len(items) < page_size:  # the end: never behind where the last sync ended
        return SearchPosition(max(last, position.since)), False
    if last <= since:  # the whole page shares one second: the same search's next page
        return SearchPosition(since, position.page + 1), has_next
    return SearchPosition(last), True


async def sync_events(
    ctx: JobContext, http: httpx.AsyncClient, account: Account, login: str, window_start: datetime
) -> int:
    ctx.check_cancelled()
    web = web_url(account.settings.api_url)
    async with ctx.sync(f"{account.id}/events") as page:
        newest_synced = int(page.cursor) if page.cursor else 0
        etag = _stored_etag(ctx, account.id, "events") if page.cursor else None
        response = await get(
            http, f"/users/{login}/events", account=account, params={"per_page": 100}, etag=etag
        )
        if response.status_code == 304:
            ctx.progress(message="no new events since the last sync")
            return 0
        first_page = response
        fresh: list[dict[str, Any]] = []
        for number in range(1, EVENT_PAGES + 1):
            events = json_body(response, "a page of events", list)
            new = [
                e
                for e in events
                if int(e["id"]) > newest_synced and parse_time(e["created_at"]) >= window_start
            ]
            fresh += new
            ctx.progress(message=f"{len(fresh)} new events ({number} page{'s' if number > 1 else ''})")
            following = response.links.get("next")
            if len(new) < len(events) or following is None or number == EVENT_PAGES:
                break
            ctx.check_cancelled()
            response = await get(http, following["url"], account=account)
        if newest_synced and len(fresh) >= EVENT_PAGES * 100:
            ctx.log(
                f"GitHub keeps a person's last {EVENT_PAGES * 100} events only: those between the last"
                f" sync and {fresh[-1]['created_at']} are gone from its events API",
                level="warning",
            )
        merged = await _merged_pulls(ctx, account.id, fresh)
        entries = []
        for event in fresh:
            commits = await _commits_pushed(http, account, event)
            entry = event_activity(account.id, event, web, commits, closed_pull(event) in merged)
            page.upsert(
                "github_events",
                [event_row(account.id, event, entry.title if entry else None)],
                key=("account_id", "event_id"),
            )
            if entry is not None:
                entries.append(entry)
        page.activity(*entries)
        _save_etag(page, account.id, "events", first_page)
        if fresh:
            page.advance(str(max(int(e["id"]) for e in fresh)))
        elif page.cursor is None:
            page.advance("0")
    return len(fresh)


async def _commits_pushed(http: httpx.AsyncClient, account: Account, event: dict[str, Any]) -> int | None:
    span = push_range(event)
    if span is None:
        return None
    repo = event["repo"]["name"]
    response = await get(http, f"/repos/{repo}/compare/{span[0]}...{span[1]}", account=account, allow=(404,))
    if response.status_code == 404:
        return None  # a force push removed the base, or the repository is gone
    return json_body(response, "a comparison of commits").get("total_commits")


async def _merged_pulls(
    ctx: JobContext, account_id: str, events: list[dict[str, Any]]
) -> set[tuple[str, int]]:
    """Of the pull requests these events closed, those the search results say were merged."""
    closed = {pull for pull in map(closed_pull, events) if pull is not None}
    if not closed:
        return set()
    await ctx.wait_synced()  # the search step's pages hold the answer
    with ctx.db() as db:
        merged = db.execute(
            "SELECT repo, number FROM github_items WHERE account_id = ? AND kind = 'pr' AND merged_at IS NOT NULL",
            (account_id,),
        ).fetchall()
    return closed & {(repo, number) for repo, number in merged}


def _stored_etag(ctx: JobContext, account_id: str, resource: str) -> str | None:
    with ctx.db() as db:
        row = db.execute(
            "SELECT etag FROM github_etags WHERE account_id = ? AND resource = ?", (account_id, resource)
        ).fetchone()
    return row[0] if row else None


def _save_etag(page: SyncPage, account_id: str, resource: str, response: httpx.Response) -> None:
    etag = response.headers.get("etag")
    if etag:
        page.upsert(
            "github_etags",
            [{"account_id": account_id, "resource": resource, "etag": etag}],
            key=("account_id", "resource"),
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
