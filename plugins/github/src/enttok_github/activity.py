"""What GitHub's answers become: rows of the plugin's tables and entries of the timeline.

An entry's `external_id` is stable, so a page fetched twice (a resumed sync, an overlapping
search) updates entries instead of adding them. Opening an issue or a pull request is seen
twice, in the search results (the person authored it) and in the events; both give it the
same id, `<repo>#<number>:opened`, so the journal shows it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enttok import Activity


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- search results: issues and pull requests the person is involved in


def repo_of(item: dict[str, Any]) -> str:
    """`org/repo` from the item's `repository_url` (`.../repos/org/repo`)."""
    return "/".join(item["repository_url"].rstrip("/").split("/")[-2:])


def item_row(account_id: str, item: dict[str, Any]) -> dict[str, Any]:
    pull = item.get("pull_request")
    return {
        "account_id": account_id,
        "item_id": str(item["id"]),
        "repo": repo_of(item),
        "number": item["number"],
        "kind": "pr" if pull else "issue",
        "title": item["title"],
        "state": item["state"],
        "author": (item.get("user") or {}).get("login"),
        "url": item.get("html_url"),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "closed_at": item.get("closed_at"),
        "merged_at": (pull or {}).get("merged_at"),
    }


def item_activity(account_id: str, login: str, item: dict[str, Any], since: datetime) -> list[Activity]:
    """An item the person opened within the window is something they did; one they were
    only involved in (assigned, mentioned, asked to review) is not, by itself."""
    author = (item.get("user") or {}).get("login")
    created = parse_time(item["created_at"])
    if author != login or created < since:
        return []
    repo, number = repo_of(item), item["number"]
    noun = "PR" if item.get("pull_request") else "issue"
    return [
        Activity(
            account_id=account_id,
            external_id=f"{repo}#{number}:opened",
            event_type=f"{'pr' if noun == 'PR' else 'issue'}.opened",
            event_time=created,
            title=f"opened {noun} #{number} in {repo}",
            description=item["title"],
            url=item.get("html_url"),
            actor=login,
        )
    ]


# -- events: what the person did, newest first


def event_row(account_id: str, event: dict[str, Any], summary: str | None) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "event_id": str(event["id"]),
        "type": event["type"],
        "repo": (event.get("repo") or {}).get("name"),
        "actor": (event.get("actor") or {}).get("login"),
        "created_at": event["created_at"],
        "summary": summary,
    }


def push_range(event: dict[str, Any]) -> tuple[str, str] | None:
    """The `before...head` a push event covers, when its commits can be counted by comparing."""
    if event["type"] != "PushEvent":
        return None
    payload = event.get("payload") or {}
    before, head = payload.get("before"), payload.get("head")
    if not before or not head or set(before) == {"0"}:
        return None  # a new branch: there is nothing before it to compare with
    return before, head


def closed_pull(event: dict[str, Any]) -> tuple[str, int] | None:
    """(repo, number) of a pull request this event closed, when the event does not say
    whether it was merged (the events API sends a trimmed pull request)."""
    payload = event.get("payload") or {}
    if event["type"] != "PullRequestEvent" or payload.get("action") != "closed":
        return None
    pull = payload.get("pull_request") or {}
    if "merged" in pull or "merged_at" in pull:
        return None
    return (event.get("repo") or {}).get("name", ""), payload.get("number") or pull.get("number")


def event_activity(
    account_id: str, event: dict[str, Any], web: str, commits: int | None = None, merged: bool = False
) -> Activity | None:
    """One timeline entry for an event the journal cares about, else None. `commits` is a
    push's commit count and `merged` whether a closed pull request was merged: the events
    API no longer says, so the sync asks the compare API and its own search results."""
    kind = event["type"]
    payload = event.get("payload") or {}
    repo = (event.get("repo") or {}).get("name", "")
    action = payload.get("action")
    entry = {
        "account_id": account_id,
        "external_id": f"event:{event['id']}",
        "event_time": parse_time(event["created_at"]),
        "actor": (event.get("actor") or {}).get("login"),
    }
    if kind == "PushEvent":
        branch = str(payload.get("ref", "")).removeprefix("refs/heads/")
        count = commits if commits is not None else payload.get("size")
        what = f"{count} commit{'' if count == 1 else 's'}" if count is not None else "commits"
        head = payload.get("head", "")
        before = payload.get("before", "")
        url = f"{web}/{repo}/compare/{before[:12]}...{head[:12]}" if push_range(event) else f"{web}/{repo}"
        return Activity(**entry, event_type="push", title=f"pushed {what} to {branch} in {repo}", url=url)
    if kind == "PullRequestEvent" and action in ("opened", "closed", "reopened"):
        pull = payload.get("pull_request") or {}
        number = payload.get("number") or pull.get("number")
        if action == "closed" and (merged or pull.get("merged") or pull.get("merged_at")):
            action = "merged"
        if action == "opened":
            entry["external_id"] = f"{repo}#{number}:opened"
        return Activity(
            **entry,
            event_type=f"pr.{action}",
            title=f"{action} PR #{number} in {repo}",
            description=pull.get("title"),
            url=pull.get("html_url") or f"{web}/{repo}/pull/{number}",
        )
    if kind == "PullRequestReviewEvent":
        pull = payload.get("pull_request") or {}
        review = payload.get("review") or {}
        state = str(review.get("state", "")).lower().replace("_", " ")
        return Activity(
            **entry,
            event_type="pr.reviewed",
            title=f"reviewed PR #{pull.get('number')} in {repo}",
            description=state or None,
            url=review.get("html_url") or f"{web}/{repo}/pull/{pull.get('number')}",
        )
    if kind == "IssuesEvent" and action in ("opened", "closed", "reopened"):
        issue = payload.get("issue") or {}
        if action == "opened":
            entry["external_id"] = f"{repo}#{issue.get('number')}:opened"
        return Activity(
            **entry,
            event_type=f"issue.{action}",
            title=f"{action} issue #{issue.get('number')} in {repo}",
            description=issue.get("title"),
            url=issue.get("html_url") or f"{web}/{repo}/issues/{issue.get('number')}",
        )
    if kind in ("IssueCommentEvent", "PullRequestReviewCommentEvent") and action == "created":
        target = payload.get("issue") or payload.get("pull_request") or {}
        noun = "PR" if kind == "PullRequestReviewCommentEvent" or target.get("pull_request") else "issue"
        comment = payload.get("comment") or {}
        return Activity(
            **entry,
            event_type="comment",
            title=f"commented on {noun} #{target.get('number')} in {repo}",
            description=target.get("title"),
            url=comment.get("html_url") or target.get("html_url"),
        )
    if kind == "CreateEvent" and payload.get("ref_type") in ("branch", "tag"):
        return Activity(
            **entry,
            event_type=f"{payload['ref_type']}.created",
            title=f"created {payload['ref_type']} {payload.get('ref')} in {repo}",
            url=f"{web}/{repo}",
        )
    return None
