"""What a page or blog post from Confluence's CQL search becomes: the search that finds it,
its row, and its timeline entries.

A content object is the REST API v1 `Content`, expanded with `space`, `version`, `history`
and `body.storage`. Its latest version says who edited it last and when; `history` says who
created it; the versions in between, when the latest is someone else's, come from the
page's version history (`versions_to_look_up`). Timeline entries are per version
(`<id>:v<number>`), so fetching a page again, as the overlapping search does, updates its
entry instead of adding one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from enttok import Activity
from enttok_confluence.client import UNKNOWN_ZONE_MARGIN, Person
from enttok_confluence.text import excerpt

EXPAND = "space,version,history,body.storage"
OVERLAP = timedelta(minutes=1)
"""CQL dates have minute resolution and the search index trails writes a little: each search
starts a minute before the minute the last one began in. Rows are upserted by key and timeline
entries keyed by version, so what the overlap fetches again changes nothing."""
KINDS = {"page": "page", "blogpost": "blog post"}


def cql(since: datetime, zone: ZoneInfo | None, extra: str = "") -> str:
    """The pages and blog posts the signed-in person created or edited, modified at or after
    `since`, oldest first. The date is written in the site's time zone, where Confluence reads it."""
    if zone is None:
        since, zone = since - UNKNOWN_ZONE_MARGIN, ZoneInfo("UTC")
    local = (since - OVERLAP).astimezone(zone)
    query = (
        "type in (page, blogpost) AND contributor = currentUser()"
        f' AND lastmodified >= "{local:%Y-%m-%d %H:%M}"'
    )
    if extra.strip():
        query += f" AND ({extra.strip()})"
    return query + " ORDER BY lastmodified ASC"


def parse_time(text: str) -> datetime:
    """Confluence's times: ISO 8601 with `Z` (Cloud) or an offset (Server)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def web_link(base: str, content: dict[str, Any]) -> str | None:
    webui = (content.get("_links") or {}).get("webui")
    return f"{base.rstrip('/')}{webui}" if webui else None


def content_row(account_id: str, base: str, content: dict[str, Any]) -> dict[str, Any]:
    version = content.get("version") or {}
    history = content.get("history") or {}
    space = content.get("space") or {}
    author = version.get("by") or {}
    storage = ((content.get("body") or {}).get("storage") or {}).get("value")
    return {
        "account_id": account_id,
        "content_id": str(content["id"]),
        "type": content.get("type", "page"),
        "title": content.get("title") or "(untitled)",
        "space_key": space.get("key"),
        "space_name": space.get("name"),
        "version": int(version.get("number", 1)),
        "author": author.get("displayName"),
        "author_id": Person.id_of(author),
        "created_by": (history.get("createdBy") or {}).get("displayName"),
        "created_at": _iso(history.get("createdDate")),
        "modified_at": _iso(version["when"]),
        "url": web_link(base, content),
        "excerpt": excerpt(storage),
    }


def content_activity(
    account_id: str, person: Person, content: dict[str, Any], row: dict[str, Any], since: datetime
) -> list[Activity]:
    """What the person did to this content that the search result shows, at or after `since`
    (the window): its latest version, when it is theirs ("edited page X in space Y"), and its
    creation, when that was theirs."""
    version = content.get("version") or {}
    history = content.get("history") or {}
    theirs: dict[int, datetime] = {}
    if Person.id_of(version.get("by")) == person.id:
        theirs[row["version"]] = parse_time(version["when"])
    if (
        row["version"] > 1
        and Person.id_of(history.get("createdBy")) == person.id
        and history.get("createdDate")
    ):
        theirs[1] = parse_time(history["createdDate"])
    return [version_entry(account_id, person, row, n, when) for n, when in theirs.items() if when >= since]


def versions_to_look_up(row: dict[str, Any], person: Person, known_version: int) -> range:
    """The versions of this content between the last one seen and the latest that the search
    result says nothing about, when the latest is someone else's: the person may have made
    one of them. Version 1 is in `history`; the latest in `version`."""
    if row["author_id"] == person.id:
        return range(0)
    return range(max(known_version, 1) + 1, row["version"])


def version_entry(
    account_id: str, person: Person, row: dict[str, Any], number: int, when: datetime
) -> Activity:
    kind = KINDS.get(row["type"], row["type"])
    where = f" in space {row['space_name'] or row['space_key']}" if row["space_key"] else ""
    verb = "created" if number == 1 else "edited"
    return Activity(
        account_id=account_id,
        external_id=f"{row['content_id']}:v{number}",
        event_type=f"{row['type']}.{verb}",
        event_time=when,
        title=f"{verb} {kind} {row['title']}{where}",
        description=row["excerpt"],
        url=row["url"],
        actor=person.name,
        raw={"content_id": row["content_id"], "version": number, "space": row["space_key"]},
    )


def _iso(text: str | None) -> str | None:
    """Stored times: UTC, to the millisecond, so they sort as text."""
    return parse_time(text).isoformat(timespec="milliseconds").replace("+00:00", "Z") if text else None
