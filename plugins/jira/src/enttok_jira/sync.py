"""`jira.sync`: one account's issues, status changes and comments, incrementally.

The SDK is blocking, so each request runs in a worker thread (`ctx.run_blocking`) while the
handler stays on the event loop and the previous page commits in the host's writer.

**Where a sync starts.** JQL reads `updated >= "2025-01-15 14:30"` at minute resolution, in
the time zone of the person's Jira profile (read from `/myself`). The cursor keeps the
newest `updated` stored; the next sync searches from the minute before its minute, so an
issue updated later in that same minute (or indexed late) is fetched, and rows upserted by
issue id and entries keyed by Jira's ids make what the overlap fetches again a no-op.

**How it pages.** `ORDER BY updated ASC` shifts under paging: an issue updated mid-sync
moves to the end, and with `startAt` the issue after it would slide into a page already
read and be missed. So each page starts a fresh search from the minute of the last issue
read (refetching only that minute), and the search's own paging (`nextPageToken` on Cloud,
`startAt` on Server/Data Center) is followed only while a whole page falls in one minute.
The cursor saves where the search stands after every page, so a sync killed anywhere
resumes at its next page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from enttok import JobContext, PermanentError
from enttok_jira import INVOLVED, SyncPayload
from enttok_jira.activity import issue_activity, issue_row
from enttok_jira.client import SearchPage, open_jira, parse_time, search, signed_in

OVERLAP = timedelta(minutes=1)


@dataclass(frozen=True)
class Position:
    """Where the sync stands: the newest `updated` stored, and the search under way (issues
    updated from the minute `start`, at the page `following`), if one is."""

    since: datetime
    start: datetime | None = None
    following: str | int | None = None

    @classmethod
    def load(cls, cursor: str | None, window_start: datetime) -> Position:
        if cursor is None:
            return cls(window_start)
        saved = json.loads(cursor)
        start = saved.get("start")
        return cls(
            datetime.fromisoformat(saved["since"]),
            datetime.fromisoformat(start) if start else None,
            saved.get("following"),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "since": self.since.isoformat(),
                "start": self.start.isoformat() if self.start else None,
                "following": self.following,
            }
        )

    def begun(self) -> Position:
        """A new sync's search: from the minute before the newest `updated` stored."""
        if self.start is not None:
            return self  # a sync stopped mid-way: carry on where it was
        return Position(self.since, minute_of(self.since) - OVERLAP)

    def after(self, result: SearchPage) -> Position:
        """Where the next page starts; `start` None once the search is done."""
        times = [parse_time(issue["fields"]["updated"]).astimezone(UTC) for issue in result.issues]
        newest = max([self.since, *times])
        if result.following is None or not times:
            return Position(newest)
        assert self.start is not None
        last_minute = minute_of(times[-1])
        if last_minute > self.start:
            return Position(newest, last_minute)
        return Position(newest, self.start, result.following)  # a whole page in one minute


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, Any]:
    if payload.account_id is None:
        return {"submitted": await ctx.fan_out_accounts(payload, field="account_id")}
    account = ctx.account(payload.account_id)
    site = account.settings.site_url
    now = datetime.now(UTC)
    window_start = now - timedelta(days=ctx.settings.window_days)
    involved = ctx.settings.jql or INVOLVED
    jira = await ctx.run_blocking(open_jira, ctx, account)
    try:
        me = await ctx.run_blocking(signed_in, jira, account)
        fetched = pages = 0
        while True:
            ctx.check_cancelled()
            async with ctx.sync(account.id) as page:
                position = Position.load(page.cursor, window_start).begun()
                assert position.start is not None
                jql = f'({involved}) AND updated >= "{jql_time(position.start, me.time_zone)}" ORDER BY updated ASC'
                try:
                    result = await ctx.run_blocking(
                        search, jira, account, jql, payload.page_size, position.following
                    )
                except PermanentError as refused:
                    if refused.code != "bad_jql" or position.following is None:
                        raise
                    # a sync stopped mid-search days ago: Cloud's page tokens expire (7 days)
                    ctx.log("Jira refused the saved page token: the search starts again at its minute")
                    position = Position(position.since, position.start)
                    result = await ctx.run_blocking(search, jira, account, jql, payload.page_size, None)
                page.upsert(
                    "jira_issues",
                    [issue_row(account.id, site, issue) for issue in result.issues],
                    key=("account_id", "issue_id"),
                )
                page.activity(
                    *[e for i in result.issues for e in issue_activity(account.id, site, me, i, window_start)]
                )
                following = position.after(result)
                page.advance(following.dump())
            fetched += len(result.issues)
            pages += 1
            covered = (following.since - window_start) / max(now - window_start, timedelta(seconds=1))
            ctx.progress(
                min(1.0, max(0.0, covered)),
                f"{fetched} issues in {pages} pages, updated up to"
                f" {following.since.astimezone(me.time_zone):%Y-%m-%d %H:%M} ({me.time_zone})",
            )
            if following.start is None:
                break
    finally:
        await ctx.run_blocking(jira.close)
    return {"user": me.display_name, "fetched": fetched, "pages": pages}


def minute_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def jql_time(moment: datetime, zone: ZoneInfo) -> str:
    """A JQL date: minutes, in the person's profile time zone. A wall time that the end of
    daylight saving time repeats may be read as its later instant: then the hour before is
    written, which no reading places after `moment`."""
    local = moment.astimezone(zone)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        local = (moment - abs(other.utcoffset() - local.utcoffset())).astimezone(zone)  # type: ignore[operator]
    return local.strftime("%Y-%m-%d %H:%M")
