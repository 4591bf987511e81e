"""A fake Jira REST API, written from Atlassian's documentation, served by FakeUpstream.

What it keeps of the real APIs (developer.atlassian.com, Jira Cloud platform REST v3 and
Jira Server/Data Center REST v2):

- **Cloud** signs in with basic auth, `email:API token`; it searches through
  `GET /rest/api/3/search/jql` (`jql`, `fields`, `expand`, `maxResults`, `nextPageToken`;
  answers `issues`, `nextPageToken`, `isLast`), and answers the retired classic
  `/rest/api/{2,3}/search` with `410 Gone`. Comment bodies are Atlassian Document Format.
- **Server/Data Center** signs in with a personal access token (`Authorization: Bearer`);
  it searches through `GET /rest/api/2/search` (`startAt`, `maxResults`; answers `startAt`,
  `maxResults`, `total`, `issues`) and has no `/search/jql`. Comment bodies are strings.
- `GET /rest/api/{2,3}/myself`: the user, with the `timeZone` of their profile.
- JQL: `(...) AND updated >= "yyyy-MM-dd HH:mm" ORDER BY updated ASC`, the date read at
  minute resolution in the user's time zone, as Jira does. The first part (who is
  involved) is not evaluated: every issue here involves the user.
- Search results carry an issue's first `in_search` comments and changelog entries
  with their `total`; `/issue/{id}/comment` pages the comments, Cloud's
  `/issue/{id}/changelog` the changelog (`values`, `isLast`), and Server's
  `/issue/{id}?expand=changelog` sends the whole changelog.
- Issue times are written `2025-01-15T09:30:12.345-0500`, with the changelog
  (`expand=changelog`) and the `comment` field.
- Cloud also takes a bearer token (an OAuth 2.0 access token); a refused credential is a `401`; `html_instead` answers everything with a sign-in page.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enttok.testing import FakeUpstream

ME = "me"
OTHER = "someone-else"
JQL = re.compile(r'^\(.+\) AND updated >= "(\d{4}-\d{2}-\d{2} \d{2}:\d{2})" ORDER BY updated ASC$', re.S)
LOGIN_PAGE = "<!DOCTYPE html><html><body><form action='/login.jsp'>Log in to Jira</form></body></html>"


def jira_time(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


@dataclass
class Issue:
    id: int
    key: str
    summary: str
    status: str
    created: datetime
    updated: datetime
    creator: str = ME
    histories: list[dict[str, Any]] = field(default_factory=list)
    """{"id", "author", "created", "from", "to"}"""
    comments: list[dict[str, Any]] = field(default_factory=list)
    """{"id", "author", "created", "body"}"""
    hidden: bool = False
    """Not in the search index yet: Jira's index trails its writes."""


class FakeJira(FakeUpstream):
    """Jira on a loopback port, Cloud or Server/Data Center (`cloud`)."""

    def __init__(self, *, cloud: bool = True, time_zone: str = "America/New_York") -> None:
        self.cloud = cloud
        self.zone = ZoneInfo(time_zone)
        self.issues: list[Issue] = []
        self.tokens: set[str] = set()
        self.email = "me@example.com"
        self.html_instead = False
        self.forbidden = False
        self.in_search = 20
        """How many comments and changelog entries an issue carries in search results; the
        rest come from `/issue/{id}/comment` and `/issue/{id}/changelog` (Server: the issue)."""
        self.tokens_valid_after = 0.0
        """`nextPageToken`s issued before this time are refused (they expire after 7 days)."""
        self.page_delay = 0.0
        """Seconds each search page takes (the benchmark's realistic latency)."""
        self._lock = threading.Lock()
        self._next_id = 10_000
        super().__init__(self.routes(), oauth=False)

    # -- setting the scene

    def new_token(self) -> str:
        token = ("ATATT3x" if self.cloud else "NjQ") + secrets.token_urlsafe(24)
        self.tokens.add(token)
        self.issued.append(token)  # for the kit's leak checks
        return token

    def revoke(self, refresh_token: str | None = None) -> None:
        """Every token is revoked (or this one): Jira answers 401."""
        if refresh_token is None:
            self.tokens.clear()
        else:
            self.tokens.discard(refresh_token)

    def account_settings(self, token: str | None = None) -> dict[str, Any]:
        settings: dict[str, Any] = {"site_url": self.url, "token": token or self.new_token()}
        if self.cloud:
            settings["email"] = self.email
        return settings

    def add_issues(self, count: int, *, spacing: timedelta = timedelta(minutes=7)) -> list[Issue]:
        """`count` issues updated one after another, the newest an hour ago; each has a status
        change by the user, and every other one a comment by the user and one by someone else."""
        now = datetime.now(UTC).replace(microsecond=0)
        added = []
        with self._lock:
            for n in range(count):
                self._next_id += 1
                updated = now - timedelta(hours=1) - spacing * (count - 1 - n) + timedelta(seconds=n % 50)
                issue = Issue(
                    id=self._next_id,
                    key=f"OPS-{self._next_id - 10_000}",
                    summary=f"Issue {n + 1}",
                    status="In Progress",
                    created=updated - timedelta(hours=2),
                    updated=updated,
                    creator=ME if n % 3 == 0 else OTHER,
                )
                self._history(issue, ME, "To Do", "In Progress", updated - timedelta(minutes=1))
                if n % 2 == 0:
                    self._comment(issue, ME, f"Looked into issue {n + 1}.", updated)
                    self._comment(issue, OTHER, "Thanks!", updated - timedelta(minutes=2))
                self.issues.append(issue)
                added.append(issue)
        return added

    def comment(self, issue: Issue, text: str, when: datetime, *, author: str = ME) -> str:
        """The user comments on `issue` at `when`, which updates it."""
        with self._lock:
            comment_id = self._comment(issue, author, text, when)
            issue.updated = when
        return comment_id

    def transition(self, issue: Issue, to: str, when: datetime, *, author: str = ME) -> None:
        with self._lock:
            self._history(issue, author, issue.status, to, when)
            issue.status, issue.updated = to, when

    def _comment(self, issue: Issue, author: str, text: str, when: datetime) -> str:
        self._next_id += 1
        issue.comments.append({"id": str(self._next_id), "author": author, "created": when, "body": text})
        return str(self._next_id)

    def _history(self, issue: Issue, author: str, before: str, after: str, when: datetime) -> None:
        self._next_id += 1
        issue.histories.append(
            {"id": str(self._next_id), "author": author, "created": when, "from": before, "to": after}
        )

    # -- the API

    def routes(self) -> list[Route]:
        return [
            Route("/rest/api/{version:int}/myself", self._myself),
            Route("/rest/api/3/search/jql", self._search_jql),
            Route("/rest/api/{version:int}/search", self._classic_search),
            Route("/rest/api/{version:int}/issue/{issue_id}/comment", self._comments),
            Route("/rest/api/3/issue/{issue_id}/changelog", self._changelog),
            Route("/rest/api/2/issue/{issue_id}", self._issue),
        ]

    def _gate(self, request: Request) -> Response | None:
        if self.html_instead:
            return Response(LOGIN_PAGE, 200, media_type="text/html")
        header = request.headers.get("authorization", "")
        if self.cloud and header.startswith("Basic "):
            email, _, token = base64.b64decode(header[6:]).decode().partition(":")
            known = email == self.email and token in self.tokens
        elif header.startswith("Bearer "):  # Cloud takes OAuth 2.0 access tokens this way too
            known = header[7:] in self.tokens
        else:
            known = False
        if not known:
            # Jira answers an unknown credential 401, in plain text on Cloud
            return Response("Client must be authenticated to access this resource.", 401)
        if self.forbidden:
            body = {"errorMessages": ["You do not have the permission to see the specified issue."]}
            return JSONResponse(body, 403)
        return None

    async def _myself(self, request: Request) -> Response:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        return JSONResponse({**self._user(ME), "active": True, "timeZone": str(self.zone), "locale": "en_US"})

    async def _search_jql(self, request: Request) -> Response:
        if not self.cloud:
            return JSONResponse({"errorMessages": ["null for uri: /rest/api/3/search/jql"]}, 404)
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        query = request.query_params
        matches, error = self._matching(query.get("jql", ""))
        if error is not None:
            return error
        offset = 0
        if "nextPageToken" in query:
            try:
                saved = json.loads(base64.urlsafe_b64decode(query["nextPageToken"]))
                assert saved["jql"] == query.get("jql") and saved["issued"] > self.tokens_valid_after
                offset = int(saved["offset"])
            except Exception:
                return JSONResponse({"errorMessages": ["The nextPageToken is invalid."]}, 400)
        size = min(int(query.get("maxResults", 50)), 100)
        chunk = matches[offset : offset + size]
        body: dict[str, Any] = {"issues": [self._issue_json(i, query) for i in chunk]}
        if offset + size < len(matches):
            token = json.dumps({"jql": query.get("jql"), "offset": offset + size, "issued": time.time()})
            body["nextPageToken"] = base64.urlsafe_b64encode(token.encode()).decode()
            body["isLast"] = False
        else:
            body["isLast"] = True
        await self._latency()
        return JSONResponse(body)

    async def _classic_search(self, request: Request) -> Response:
        if self.cloud:
            message = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
            return JSONResponse({"errorMessages": [message]}, 410)
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        query = request.query_params
        matches, error = self._matching(query.get("jql", ""))
        if error is not None:
            return error
        start, size = int(query.get("startAt", 0)), min(int(query.get("maxResults", 50)), 1000)
        chunk = matches[start : start + size]
        await self._latency()
        return JSONResponse(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(matches),
                "issues": [self._issue_json(i, query) for i in chunk],
            }
        )

    def _issue_of(self, request: Request) -> Issue | None:
        wanted = request.path_params["issue_id"]
        return next((i for i in self.issues if wanted in (str(i.id), i.key)), None)

    async def _comments(self, request: Request) -> Response:
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        issue = self._issue_of(request)
        if issue is None:
            return JSONResponse(
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404
            )
        start, size = (
            int(request.query_params.get("startAt", 0)),
            int(request.query_params.get("maxResults", 50)),
        )
        chunk = issue.comments[start : start + size]
        return JSONResponse(
            {
                "startAt": start,
                "maxResults": size,
                "total": len(issue.comments),
                "comments": [self._comment_json(c) for c in chunk],
            }
        )

    async def _changelog(self, request: Request) -> Response:
        if not self.cloud:
            return JSONResponse({"errorMessages": ["null for uri"]}, 404)
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        issue = self._issue_of(request)
        if issue is None:
            return JSONResponse(
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, 404
            )
        start, size = (
            int(request.query_params.get("startAt", 0)),
            int(request.query_params.get("maxResults", 100)),
        )
        chunk = issue.histories[start : start + size]
        return JSONResponse(
            {
                "startAt": start,
                "maxResults": size,
                "total": len(issue.histories),
                "isLast": start + size >= len(issue.histories),
                "values": [self._history_json(h) for h in chunk],
            }
        )

    async def _issue(self, request: Request) -> Response:
        """Server/Data Center's issue, with its whole changelog when asked (`expand=changelog`)."""
        if self.cloud:
            return JSONResponse({"errorMessages": ["null for uri"]}, 404)
        refusal = self._gate(request)
        if refusal is not None:
            return refusal
        issue = self._issue_of(request)
        if issue is None:
            return JSONResponse({"errorMessages": ["Issue Does Not Exist"]}, 404)
        body = self._issue_json(issue, request.query_params, limit=None)
        return JSONResponse(body)

    async def _latency(self) -> None:
        if self.page_delay:
            import asyncio

            await asyncio.sleep(self.page_delay)

    def _matching(self, jql: str) -> tuple[list[Issue], Response | None]:
        found = JQL.match(jql)
        if found is None:
            return [], JSONResponse({"errorMessages": [f"the fake does not understand the JQL {jql!r}"]}, 400)
        since = datetime.strptime(found[1], "%Y-%m-%d %H:%M").replace(tzinfo=self.zone).astimezone(UTC)
        with self._lock:
            matches = [i for i in self.issues if not i.hidden and i.updated >= since]
        matches.sort(key=lambda i: (i.updated, i.id))
        return matches, None

    def _user(self, who: str) -> dict[str, Any]:
        name = "Me Myself" if who == ME else "Someone Else"
        if self.cloud:
            return {
                "accountId": f"5b10ac8d82e05b22cc7d{who}",
                "displayName": name,
                "emailAddress": f"{who}@example.com",
            }
        return {"name": who, "key": f"JIRAUSER{len(who)}{who}", "displayName": name}

    def _body(self, text: str) -> Any:
        if not self.cloud:
            return text
        paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
        return {"type": "doc", "version": 1, "content": [paragraph]}

    def _when(self, moment: datetime) -> str:
        return jira_time(moment, self.zone)

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "author": self._user(comment["author"]),
            "body": self._body(comment["body"]),
            "created": self._when(comment["created"]),
            "updated": self._when(comment["created"]),
        }

    def _history_json(self, history: dict[str, Any]) -> dict[str, Any]:
        item = {
            "field": "status",
            "fieldtype": "jira",
            "fromString": history["from"],
            "toString": history["to"],
        }
        return {
            "id": history["id"],
            "author": self._user(history["author"]),
            "created": self._when(history["created"]),
            "items": [item],
        }

    def _issue_json(self, issue: Issue, query: Any, limit: int | None = -1) -> dict[str, Any]:
        """The issue as search results carry it: at most `in_search` comments and changelog
        entries (`limit=None`: all of them, as the issue resource sends them)."""
        limit = self.in_search if limit == -1 else limit
        comments, histories = issue.comments[:limit], issue.histories[:limit]
        version = 3 if self.cloud else 2
        fields = {
            "summary": issue.summary,
            "status": {"name": issue.status, "statusCategory": {"key": "indeterminate"}},
            "issuetype": {"name": "Task"},
            "project": {"key": "OPS", "name": "Operations"},
            "assignee": self._user(ME),
            "reporter": self._user(issue.creator),
            "creator": self._user(issue.creator),
            "created": self._when(issue.created),
            "updated": self._when(issue.updated),
            "comment": {
                "startAt": 0,
                "maxResults": len(comments),
                "total": len(issue.comments),
                "comments": [self._comment_json(c) for c in comments],
            },
        }
        body: dict[str, Any] = {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.url}/rest/api/{version}/issue/{issue.id}",
            "fields": fields,
        }
        if "changelog" in query.get("expand", ""):
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(issue.histories),
                "histories": [self._history_json(h) for h in histories],
            }
        return body
