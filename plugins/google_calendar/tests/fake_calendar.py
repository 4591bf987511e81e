"""Calendar v3 as the fake Google keeps it: calendars, events with the change number they
were last written at (what a sync token stands for), recurring events expanded into their
instances (`singleEvents=true`), pages by `maxResults` and `pageToken`, and Google's error body."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Stored:
    """An event as Google keeps it, with the change number it was last written at."""

    resource: dict[str, Any]
    changed: int


@dataclass
class Calendar:
    id: str
    summary: str
    time_zone: str = "UTC"
    primary: bool = False
    selected: bool = True
    events: dict[str, Stored] = field(default_factory=dict)


def google_error(status: int, reason: str, message: str) -> JSONResponse:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
    }
    return JSONResponse(body, status_code=status)


def page_of(items: list[dict[str, Any]], request: Request, sync_token: str) -> dict[str, Any]:
    """One page by `maxResults` (at most 2500, 250 by default) and `pageToken`; the sync token
    on the last page only."""
    size = min(int(request.query_params.get("maxResults", 250)), 2500)
    offset = int(request.query_params.get("pageToken", "page-0").removeprefix("page-"))
    page: dict[str, Any] = {"items": items[offset : offset + size]}
    if offset + size < len(items):
        page["nextPageToken"] = f"page-{offset + size}"
    else:
        page["nextSyncToken"] = sync_token
    return page


def sync_point(token: str, calendar_id: str) -> int | None:
    kind, _, rest = token.partition(":")
    calendar, _, number = rest.rpartition(":")
    return int(number) if kind == "sync" and calendar == calendar_id and number.isdigit() else None


def start_of(event: dict[str, Any]) -> datetime:
    when = event["start"]
    return parse(when["dateTime"]) if "dateTime" in when else parse(when["date"] + "T00:00:00+00:00")


def end_of(event: dict[str, Any]) -> datetime:
    when = event["end"]
    return parse(when["dateTime"]) if "dateTime" in when else parse(when["date"] + "T00:00:00+00:00")


def expand(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """`singleEvents=true`: a recurring event (`RRULE:FREQ=DAILY|WEEKLY;COUNT=n`) as its instances."""
    rule = next((r for r in resource.get("recurrence", []) if r.startswith("RRULE:")), None)
    if rule is None:
        return [resource]
    parts = dict(p.split("=") for p in rule.removeprefix("RRULE:").split(";"))
    step = timedelta(days=7 if parts["FREQ"] == "WEEKLY" else 1)
    start, end = start_of(resource), end_of(resource)
    base = {k: v for k, v in resource.items() if k != "recurrence"}
    out = []
    for n in range(int(parts["COUNT"])):
        begins = start + n * step
        when = {"dateTime": iso(begins), "timeZone": resource["start"].get("timeZone", "UTC")}
        out.append(
            {
                **base,
                "id": f"{resource['id']}_{begins:%Y%m%dT%H%M%SZ}",
                "recurringEventId": resource["id"],
                "originalStartTime": when,
                "start": when,
                "end": {"dateTime": iso(end + n * step), "timeZone": when["timeZone"]},
            }
        )
    return out
