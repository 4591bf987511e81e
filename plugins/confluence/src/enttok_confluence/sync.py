"""`confluence.sync`: one account's pages and blog posts, incrementally, by CQL search.

The search is `contributor = currentUser() AND lastmodified >= "<since>"`, oldest first
(`content.cql`), paged by the cursor links Confluence returns. Each page of results is
committed with the position it leads to (`ctx.sync`: rows, timeline entries, cursor), so a
sync killed anywhere resumes at the next page link of its search. The position:

- `since`: the lower bound of the search under way, or of the next one;
- `next`: the next page's address while a search is under way;
- `until`: when the search under way began, by the site's clock. Everything modified before
  then was in its results, so once its last page is in, that is the next search's `since`.

atlassian-python-api is blocking (requests): the account's sync runs in a worker thread
(`ctx.run_blocking`), on the kit's session, so a 429 re-queues the job for the reset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from enttok import Account, Activity, JobContext, PermanentError
from enttok_confluence import SyncPayload
from enttok_confluence.client import (
    PROVIDER,
    Person,
    Site,
    connect,
    content_versions,
    current_user,
    follow,
    get,
    json_body,
    server_time,
    site_time_zone,
)
from enttok_confluence.content import (
    EXPAND,
    content_activity,
    content_row,
    cql,
    parse_time,
    version_entry,
    versions_to_look_up,
)

if TYPE_CHECKING:
    import requests
    from atlassian import Confluence

MAX_VERSIONS = 200
"""Versions asked for at most per page: an edit older than that many others is not looked for."""


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, Any]:
    if payload.account_id is None:
        return {"submitted": await ctx.fan_out_accounts(payload, field="account_id")}
    account = ctx.account(payload.account_id)
    return await ctx.run_blocking(sync_account, ctx, account, payload.page_size)


@dataclass
class Position:
    since: datetime
    next: str | None = None
    until: datetime | None = None

    @classmethod
    def load(cls, cursor: str | None, window_start: datetime, site: Site) -> Position:
        if cursor is None:
            return cls(window_start)
        saved = json.loads(cursor)
        position = cls(
            parse_time(saved["since"]),
            saved.get("next"),
            parse_time(saved["until"]) if saved.get("until") else None,
        )
        if position.next and not position.next.startswith(site.base + "/"):
            return cls(position.since)  # the account moved to another address: search again
        return position

    def dump(self) -> str:
        return json.dumps(
            {"since": _iso(self.since), "next": self.next, "until": _iso(self.until) if self.until else None}
        )


def sync_account(ctx: JobContext, account: Account, page_size: int) -> dict[str, Any]:
    """The blocking part: sign in, learn the site's time zone, page through the search."""
    site = Site.of(account)
    window_start = datetime.now(UTC) - timedelta(days=ctx.settings.window_days)
    with ctx.requests_session(PROVIDER, account.id) as session:
        client = connect(account, site, session)
        person = current_user(client, site, account)
        zone = site_time_zone(client, site, account)
        if zone is None:
            ctx.log(
                "the site's time zone is unknown (set time_zone in the account): searches reach 12 hours "
                "further back to be sure to miss nothing",
                level="warning",
            )
        fetched: set[str] = set()
        pages = 0
        while True:
            ctx.check_cancelled()
            with ctx.sync(account.id) as page:
                position = Position.load(page.cursor, window_start, site)
                query = cql(position.since, zone, ctx.settings.extra_cql)
                response, until = _search_page(ctx, client, site, account, position, query, page_size)
                body = json_body(response, "a page of search results")
                results = body.get("results")
                if not isinstance(results, list):
                    raise PermanentError(
                        "Confluence sent search results without a list of results", code="bad_page"
                    )
                rows = [content_row(account.id, site.base, content) for content in results]
                page.upsert("confluence_contents", rows, key=("account_id", "content_id"))
                known = _known_versions(ctx, account.id, [row["content_id"] for row in rows])
                for content, row in zip(results, rows, strict=True):
                    page.activity(*content_activity(account.id, person, content, row, window_start))
                    wanted = versions_to_look_up(row, person, known.get(row["content_id"], 0))
                    if wanted:
                        ctx.check_cancelled()
                        page.activity(*_looked_up(client, site, account, person, row, wanted, window_start))
                following = follow(site, body)
                if following:
                    page.advance(Position(position.since, following, until).dump())
                else:  # the search is done: the next one starts where this one began
                    page.advance(Position(until).dump())
            pages += 1
            fetched.update(row["content_id"] for row in rows)
            _report(ctx, person, fetched, rows, position.since, pages)
            if not following:
                break
    return {"user": person.name, "contents": len(fetched), "pages": pages}


def _known_versions(ctx: JobContext, account_id: str, content_ids: list[str]) -> dict[str, int]:
    """The version of each content stored by earlier pages and syncs."""
    if not content_ids:
        return {}
    marks = ",".join("?" * len(content_ids))
    with ctx.db() as db:
        rows = db.execute(
            f"SELECT content_id, version FROM confluence_contents WHERE account_id = ? AND content_id IN ({marks})",
            (account_id, *content_ids),
        ).fetchall()
    return {content_id: version for content_id, version in rows}


def _looked_up(
    client: Confluence,
    site: Site,
    account: Account,
    person: Person,
    row: dict[str, Any],
    wanted: range,
    since: datetime,
) -> list[Activity]:
    """The person's versions among `wanted`, from the content's version history: edits that
    someone else's later edit hides from the search result."""
    limit = min(row["version"] - wanted.start + 1, MAX_VERSIONS)  # newest first, down to wanted.start
    versions = content_versions(client, site, account, row["content_id"], limit)
    entries = []
    for version in versions or []:
        number, when = version.get("number"), version.get("when")
        if number in wanted and when and Person.id_of(version.get("by")) == person.id:
            moment = parse_time(when)
            if moment >= since:
                entries.append(version_entry(account.id, person, row, number, moment))
    return entries


def _search_page(
    ctx: JobContext,
    client: Confluence,
    site: Site,
    account: Account,
    position: Position,
    query: str,
    page_size: int,
) -> tuple[requests.Response, datetime]:
    """The next page of the search under way, or the first of a new one; and when the search began."""
    what = "the pages and blog posts you created or edited"
    if position.next is not None and position.until is not None:
        try:
            return get(client, site, account, position.next, what), position.until
        except PermanentError as error:
            if error.code != "bad_cql":
                raise
            # a page link kept across a long pause may no longer be valid: search again from `since`
            ctx.log(
                "the saved link to the next page of results has expired; searching again", level="warning"
            )
    params = {"cql": query, "expand": EXPAND, "limit": page_size}
    response = get(client, site, account, site.rest("content/search"), what, params)
    return response, server_time(response)


def _report(
    ctx: JobContext,
    person: Person,
    fetched: set[str],
    rows: list[dict[str, Any]],
    since: datetime,
    pages: int,
) -> None:
    noun = "page or blog post" if len(fetched) == 1 else "pages and blog posts"
    if not rows:
        ctx.progress(
            1.0, f"{len(fetched)} {noun} by {person.name} ({pages} page{'s' * (pages > 1)} of results)"
        )
        return
    reached = max(parse_time(row["modified_at"]) for row in rows)
    span = max(datetime.now(UTC) - since, timedelta(seconds=1))
    ctx.progress(
        min(1.0, max(0.0, (reached - since) / span)),
        f"{len(fetched)} {noun} by {person.name}, modified up to {reached:%Y-%m-%d %H:%M} UTC",
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
