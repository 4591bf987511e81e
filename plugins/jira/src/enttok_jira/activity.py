"""What one Jira issue becomes: its row in `jira_issues`, and the timeline entries for what
the person did on it (created it, moved its status, commented).

Each entry's `external_id` is Jira's own id for the thing done (the issue, the changelog
history, the comment), so an issue fetched again, in the overlap minute or by a full
resync, updates its entries instead of adding more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enttok import Activity
from enttok_jira.client import Person, parse_time

EXCERPT = 280


def issue_row(account_id: str, site_url: str, issue: dict[str, Any]) -> dict[str, Any]:
    fields = issue.get("fields") or {}
    return {
        "account_id": account_id,
        "issue_id": str(issue["id"]),
        "issue_key": issue["key"],
        "project": (fields.get("project") or {}).get("key"),
        "summary": fields.get("summary") or "",
        "status": (fields.get("status") or {}).get("name"),
        "issue_type": (fields.get("issuetype") or {}).get("name"),
        "assignee": _name(fields.get("assignee")),
        "reporter": _name(fields.get("reporter")),
        "url": browse_url(site_url, issue["key"]),
        "created_at": fields.get("created") or fields["updated"],
        "updated_at": fields["updated"],
    }


def issue_activity(
    account_id: str, site_url: str, me: Person, issue: dict[str, Any], since: datetime
) -> list[Activity]:
    """What `me` did on this issue at or after `since`."""
    fields = issue.get("fields") or {}
    key, summary = issue["key"], fields.get("summary") or ""
    url = browse_url(site_url, key)
    entries: list[Activity] = []

    def add(external_id: str, event_type: str, when: str, title: str, **extra: Any) -> None:
        moment = parse_time(when)
        if moment >= since:
            entries.append(
                Activity(
                    account_id=account_id,
                    external_id=external_id,
                    event_type=event_type,
                    event_time=moment,
                    title=title,
                    url=url,
                    actor=me.display_name,
                    **extra,
                )
            )

    creator = fields.get("creator") or fields.get("reporter")
    if me.is_me(creator) and fields.get("created"):
        add(f"issue:{issue['id']}:created", "issue.created", fields["created"], f"created {key}: {summary}")
    for history in (issue.get("changelog") or {}).get("histories") or []:
        if not me.is_me(history.get("author")):
            continue
        for item in history.get("items") or []:
            if item.get("field") == "status":
                moved = f"moved {key} from {item.get('fromString')} to {item.get('toString')}: {summary}"
                add(f"history:{history['id']}", "issue.status_changed", history["created"], moved)
    for comment in ((fields.get("comment") or {}).get("comments")) or []:
        if me.is_me(comment.get("author")):
            text = body_text(comment.get("body"))
            add(
                f"comment:{comment['id']}",
                "issue.commented",
                comment["created"],
                f"commented on {key}: {summary}",
                description=text[:EXCERPT] or None,
            )
    return entries


def browse_url(site_url: str, key: str) -> str:
    return f"{site_url}/browse/{key}"


def body_text(body: Any) -> str:
    """A comment's text: Server sends wiki markup as a string, Cloud's v3 API a document in
    the Atlassian Document Format, whose text nodes are joined here."""
    if isinstance(body, str):
        return body.strip()
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            for child in node.get("content") or []:
                walk(child)
            if node.get("type") in ("paragraph", "heading", "listItem"):
                parts.append(" ")

    walk(body)
    return " ".join("".join(parts).split())


def _name(user: dict[str, Any] | None) -> str | None:
    return (user or {}).get("displayName")
