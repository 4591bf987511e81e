"""`google_calendar.sync`: one account's calendars and events, incrementally.

1. **Calendars**: the calendar list, every page; new calendars start synced as Google
   shows them (`selected`, or the primary one), later the user's choice in
   `google_calendar_calendars.selected` stands. Calendars gone from the list go, with
   their events, in the last page's commit.
2. **Events** of each selected calendar, `singleEvents=True` (recurring events come as
   their instances). A calendar's cursor says where it stands: `{"sync_token": ...}` once
   synced, plus `page_token` in the middle of a listing. The first listing covers
   `timeMin` = now minus the window; later ones send only the sync token (Google refuses
   it with `timeMin`). Google gives `nextSyncToken` on the last page only. Cancelled events
   are deleted. A `410 Gone` means the token expired: the calendar's rows and cursor are
   dropped in one commit, and it is listed in full again.
3. **Meetings attended** that ended since the last sync become timeline entries, read from
   the local table, so a meeting that changed nothing since it was fetched still appears
   once it is over.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from enttok import Account, JobContext, PermanentError, RetryableError
from enttok.oauth import refresh_access_token
from enttok_google_calendar import GoogleCalendarSettings, SyncPayload, client_credentials
from enttok_google_calendar.events import EVENT_COLUMNS, calendar_row, event_row, iso_utc, meeting_activity
from enttok_google_calendar.google_api import (
    PROVIDER,
    SyncTokenGone,
    TokenSource,
    calendar_service,
    execute,
)


async def sync(ctx: JobContext, payload: SyncPayload) -> dict[str, Any]:
    if payload.account_id is None:
        return {"submitted": await ctx.fan_out_accounts(payload, field="account_id")}
    account = ctx.account(payload.account_id)
    settings: GoogleCalendarSettings = ctx.settings
    client = client_credentials(settings)
    if client is None:
        raise PermanentError(
            "no OAuth client: set plugins.google_calendar.client_id (or GOOGLE_CLIENT_ID) and"
            " GOOGLE_CLIENT_SECRET",
            code="client_not_configured",
        )
    loop = asyncio.get_running_loop()
    async with ctx.http(PROVIDER, account.id) as auth_http:

        async def refresh(force: bool) -> str:
            return await refresh_access_token(
                auth_http,
                account,
                token_url=settings.token_uri,
                extra={"client_id": client[0], "client_secret": client[1]},
                force=force,
            )

        with ctx.http_sync(PROVIDER, account.id, timeout=60) as api_http:
            service = await ctx.run_blocking(
                calendar_service,
                settings.api_endpoint,
                settings.token_uri,
                client,
                TokenSource(loop, refresh),
                api_http,
            )
            calendars = await sync_calendar_list(ctx, service, account)
            events = 0
            for number, (calendar_id, zone) in enumerate(calendars, 1):
                events += await sync_calendar(ctx, service, account, calendar_id, zone, payload.page_size)
                ctx.progress(number / (len(calendars) + 1), f"{number} of {len(calendars)} calendars synced")
    meetings = await record_meetings(ctx, account, settings)
    return {"calendars": len(calendars), "events": events, "meetings": meetings}


async def sync_calendar_list(ctx: JobContext, service: Any, account: Account) -> list[tuple[str, str | None]]:
    """Every calendar of the list stored; the selected ones, with their time zones."""
    seen: list[str] = []
    page_token = None
    while True:
        ctx.check_cancelled()
        request = service.calendarList().list(maxResults=250, pageToken=page_token, showHidden=True)
        body = await ctx.run_blocking(execute, request, account.id)
        entries = [e for e in body.get("items", []) if not e.get("deleted")]
        seen += [e["id"] for e in entries]
        page_token = body.get("nextPageToken")
        async with ctx.sync(f"{account.id}/calendars") as page:
            page.upsert(
                "google_calendar_calendars",
                [calendar_row(account.id, entry) for entry in entries],
                key=("account_id", "calendar_id"),
                keep=("selected",),  # the person's choice outlives Google's
            )
            if page_token is None:
                _forget_calendars_not_in(page, account.id, seen)
        if page_token is None:
            break
    await ctx.wait_synced()
    with ctx.db() as db:
        rows = db.execute(
            "SELECT calendar_id, time_zone FROM google_calendar_calendars WHERE account_id = ? AND selected = 1"
            " ORDER BY is_primary DESC, calendar_id",
            (account.id,),
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _forget_calendars_not_in(page: Any, account_id: str, seen: list[str]) -> None:
    marks = ", ".join("?" for _ in seen) or "''"
    for table in ("google_calendar_events", "google_calendar_calendars"):
        page.execute(
            f"DELETE FROM {table} WHERE account_id = ? AND calendar_id NOT IN ({marks})", (account_id, *seen)
        )


async def sync_calendar(
    ctx: JobContext, service: Any, account: Account, calendar_id: str, zone: str | None, page_size: int
) -> int:
    """One calendar's events since its cursor; how many came."""
    scope = f"{account.id}/events/{calendar_id}"
    count = 0
    resynced = False
    while True:
        ctx.check_cancelled()
        async with ctx.sync(scope) as page:
            position = json.loads(page.cursor) if page.cursor else {}
            params: dict[str, Any] = {
                "calendarId": calendar_id,
                "singleEvents": True,
                "maxResults": page_size,
            }
            if position.get("sync_token"):
                params["syncToken"] = position["sync_token"]
            else:
                days = ctx.settings.window_days
                params["timeMin"] = position.get("time_min") or iso_utc(
                    datetime.now(UTC) - timedelta(days=days)
                )
            if position.get("page_token"):
                params["pageToken"] = position["page_token"]
            try:
                body = await ctx.run_blocking(execute, service.events().list(**params), account.id)
            except SyncTokenGone:
                if resynced:
                    raise RetryableError(
                        f"calendar {calendar_id}: Google answered 410 to a full listing"
                    ) from None
                resynced = True
                ctx.log(
                    f"calendar {calendar_id}: Google expired its sync token; syncing it in full",
                    level="warning",
                )
                page.execute(
                    "DELETE FROM google_calendar_events WHERE account_id = ? AND calendar_id = ?",
                    (account.id, calendar_id),
                )
                page.advance(json.dumps({}))
                continue
            zone = body.get("timeZone") or zone
            items = body.get("items", [])
            for event in items:
                if event.get("status") == "cancelled":
                    page.execute(
                        "DELETE FROM google_calendar_events WHERE account_id = ? AND calendar_id = ? AND event_id = ?",
                        (account.id, calendar_id, event["id"]),
                    )
                else:
                    page.upsert(
                        "google_calendar_events",
                        [event_row(account.id, calendar_id, event, zone)],
                        key=("account_id", "calendar_id", "event_id"),
                    )
            count += len(items)
            following = body.get("nextPageToken")
            if following:
                kept = {k: position[k] for k in ("sync_token",) if position.get(k)}
                if "timeMin" in params:
                    kept["time_min"] = params["timeMin"]
                page.advance(json.dumps({**kept, "page_token": following}))
            else:
                page.advance(json.dumps({"sync_token": body.get("nextSyncToken")}))
        if not following:
            return count


async def record_meetings(ctx: JobContext, account: Account, settings: GoogleCalendarSettings) -> int:
    """Timeline entries for the attended meetings that ended since the last sync."""
    await ctx.wait_synced()
    now = iso_utc(datetime.now(UTC))
    async with ctx.sync(f"{account.id}/meetings") as page:
        since = page.cursor or iso_utc(datetime.now(UTC) - timedelta(days=settings.window_days))
        with ctx.db() as db:
            cursor = db.execute(
                f"SELECT {EVENT_COLUMNS} FROM google_calendar_events WHERE account_id = ? AND attended = 1"
                " AND ends_at > ? AND ends_at <= ? ORDER BY starts_at",
                (account.id, since, now),
            )
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        page.activity(*[meeting_activity(account.id, row) for row in rows])
        page.advance(now)
    return len(rows)
