"""What Calendar v3 answers become: rows of the plugin's tables and timeline entries.

Times are kept as Google gives them and as UTC instants to query by. A timed event's
`dateTime` carries its offset; an all-day event has only `date`s (the end exclusive), which
mean the calendar's own day: they start at midnight in the calendar's time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from enttok import Activity


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(when: dict[str, Any], calendar_zone: str | None) -> datetime:
    """The moment an event's `start` or `end` names, timezone-aware."""
    if "dateTime" in when:
        moment = datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
        if moment.tzinfo is None:  # Google sends an offset; a bare time is in the event's zone
            moment = moment.replace(tzinfo=_zone(when.get("timeZone") or calendar_zone))
        return moment
    return datetime.combine(date.fromisoformat(when["date"]), time(), _zone(calendar_zone))


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def conference_url(event: dict[str, Any]) -> str | None:
    """The link to join: a video entry point of `conferenceData`, else the Meet `hangoutLink`."""
    points = (event.get("conferenceData") or {}).get("entryPoints") or []
    for point in points:
        if point.get("entryPointType") == "video" and point.get("uri"):
            return str(point["uri"])
    return event.get("hangoutLink") or next((str(p["uri"]) for p in points if p.get("uri")), None)


def self_response(event: dict[str, Any]) -> str | None:
    """The person's own answer to the invitation, if they are on the guest list."""
    mine = next((a for a in event.get("attendees") or [] if a.get("self")), None)
    return mine.get("responseStatus") if mine else None


def attended(event: dict[str, Any]) -> bool:
    """Organised it, or was invited and did not decline; an all-day entry is no meeting."""
    if "date" in (event.get("start") or {}) or event.get("status") == "cancelled":
        return False
    if (event.get("organizer") or {}).get("self"):
        return True
    response = self_response(event)
    return response is not None and response != "declined"


def event_row(account_id: str, calendar_id: str, event: dict[str, Any], zone: str | None) -> dict[str, Any]:
    start, end = event.get("start") or {}, event.get("end") or {}
    all_day = "date" in start
    return {
        "account_id": account_id,
        "calendar_id": calendar_id,
        "event_id": event["id"],
        "recurring_event_id": event.get("recurringEventId"),
        "status": event.get("status", "confirmed"),
        "summary": event.get("summary"),
        "description": event.get("description"),
        "location": event.get("location"),
        "all_day": int(all_day),
        "starts_at": iso_utc(instant(start, zone)),
        "ends_at": iso_utc(instant(end or start, zone)),
        "start_date": start.get("date"),
        "end_date": end.get("date"),
        "time_zone": start.get("timeZone") or zone,
        "html_link": event.get("htmlLink"),
        "conference_url": conference_url(event),
        "organizer": (event.get("organizer") or {}).get("email"),
        "self_response": self_response(event),
        "attended": int(attended(event)),
        "updated": event.get("updated"),
    }


def calendar_row(account_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A calendar list entry; `selected` (synced or not) starts as Google's own `selected`."""
    return {
        "account_id": account_id,
        "calendar_id": entry["id"],
        "summary": entry.get("summaryOverride") or entry.get("summary"),
        "description": entry.get("description"),
        "time_zone": entry.get("timeZone"),
        "is_primary": int(bool(entry.get("primary"))),
        "access_role": entry.get("accessRole"),
        "color": entry.get("backgroundColor"),
        "selected": int(bool(entry.get("selected") or entry.get("primary"))),
    }


EVENT_COLUMNS = (
    "calendar_id, event_id, recurring_event_id, status, summary, description, location, all_day,"
    " starts_at, ends_at, start_date, end_date, time_zone, html_link, conference_url, organizer,"
    " self_response, attended, updated"
)


def meeting_activity(account_id: str, row: dict[str, Any]) -> Activity:
    """An attended meeting on the timeline; its id is stable across re-fetches."""
    return Activity(
        account_id=account_id,
        external_id=f"{row['calendar_id']}/{row['event_id']}",
        event_type="meeting.attended",
        event_time=datetime.fromisoformat(row["starts_at"].replace("Z", "+00:00")),
        title=row["summary"] or "(no title)",
        description=f"{row['starts_at']} to {row['ends_at']}",
        url=row["html_link"],
        raw={
            "ends_at": row["ends_at"],
            "conference_url": row["conference_url"],
            "calendar_id": row["calendar_id"],
        },
    )
