"""A fake GitHub REST API, written from GitHub's documentation, served by FakeUpstream.

What it keeps of the real API (docs.github.com/rest):

- tokens as `Authorization: Bearer <token>`; a token it does not know is a 401
  `{"message": "Bad credentials"}`; `/user` sends `X-OAuth-Scopes` as classic tokens do;
- the primary rate limit, one bucket for the core API and one for search (30 a minute), in
  `X-RateLimit-Limit/-Remaining/-Reset/-Used/-Resource`; a spent bucket is a 403 with
  `X-RateLimit-Remaining: 0`; a secondary limit is a 403 whose message says so, with
  `Retry-After`;
- `ETag` on `/user` and events; `If-None-Match` with the current one is a 304 that leaves
  the rate limit untouched;
- `Link` headers (`next`, `last`) with `per_page` (at most 100) and `page`;
- search: `involves:` and `updated:` qualifiers (`>=`, `>`, `<=`, `<`, `a..b`), sort by
  `updated`, no ETag, and nothing past the first 1,000 results: a page that starts past
  them is a 422 "Only the first 1000 search results are available";
- events: newest first, at most 300, only the last 90 days; push events carry `before`
  and `head` but no commit list or count, which the compare API gives (`total_commits`).
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enttok.testing import FakeUpstream

SEARCH_CAP = 1000
EVENTS_CAP = 300
EVENTS_DAYS = 90


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Item:
    """An issue or pull request the person is involved in."""

    id: int
    repo: str
    number: int
    title: str
    author: str
    created_at: datetime
    updated_at: datetime
    pull: bool = False
    merged: bool = False
    involves: set[str] = field(default_factory=set)


@dataclass
class Bucket:
    """One primary rate-limit bucket: `limit` requests per `window` seconds."""

    resource: str
    limit: int
    window: float
    used: int = 0
    reset: float = 0.0

    def headers(self, now: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - self.used)),
            "x-ratelimit-reset": str(int(self.reset)),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": self.resource,
        }

    def spend(self, now: float) -> bool:
        """Count one request; False when the bucket was already empty."""
        if now >= self.reset:
            self.used, self.reset = 0, math.ceil(now + self.window)  # GitHub's reset: whole seconds
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


class FakeGitHub(FakeUpstream):
    """GitHub on a loopback port: a FakeUpstream (faults, request log) serving the routes below."""

    def __init__(self, login: str = "octocat") -> None:
        self.login = login
        self.items: list[Item] = []
        self.events: list[dict[str, Any]] = []
        self.pushes: dict[str, int] = {}
        """A push's head sha: how many commits it brought."""
        self.tokens: dict[str, str] = {}
        self.core = Bucket("core", 5000, 3600)
        self.search = Bucket("search", 30, 60)
        self.secondary: dict[str, float] = {}
        """Token: the Retry-After of a secondary limit on its next search."""
        self.forbidden: dict[str, str] = {}
        """Path prefix: the scope a token needs for it and lacks (a 403)."""
        self.link_origin: str | None = None
        """Where `Link` headers point, when not here (a misconfigured proxy)."""
        self.html_instead = False
        """Answer every request with a sign-in page, as a proxy in front of a server would."""
        self._data_lock = threading.Lock()
        self._next_id = 1000
        super().__init__(self.routes(), oauth=False)

    # -- setting the scene

    def new_token(self, login: str | None = None) -> str:
        token = "ghp_" + secrets.token_urlsafe(27)
        self.tokens[token] = login or self.login
        self.issued.append(token)  # for the kit's leak checks
        return token

    def revoke(self, token: str | None = None) -> None:
        """This token, or every token, is revoked: GitHub answers it 401."""
        if token is None:
            self.tokens.clear()
        else:
            self.tokens.pop(token, None)

    def secondary_limit(self, token: str, retry_after: float) -> None:
        self.secondary[token] = retry_after

    def add_items(self, count: int, *, involves: str | None = None, spacing: timedelta | None = None) -> None:
        """`count` items updated one after another, the newest an hour ago; every third is a
        pull request and every other one authored by the person."""
        login = involves or self.login
        now = datetime.now(UTC).replace(microsecond=0)
        if spacing is None:
            spacing = min(timedelta(hours=1), timedelta(days=25) / max(count, 1))
        with self._data_lock:
            for n in range(count):
                updated = now - timedelta(hours=1) - spacing * (count - 1 - n)
                self._next_id += 1
                self.items.append(
                    Item(
                        id=self._next_id,
                        repo=f"acme/repo{n % 3}",
                        number=n + 1,
                        title=f"Item {n + 1}",
                        author=login if n % 2 == 0 else "someone-else",
                        created_at=updated - timedelta(minutes=30),
                        updated_at=updated,
                        pull=n % 3 == 0,
                        involves={login},
                    )
                )

    def touch(self, items: list[Item], when: datetime | None = None) -> None:
        """These items were updated now (or at `when`)."""
        when = when or datetime.now(UTC).replace(microsecond=0)
        for item in items:
            item.updated_at = when

    def add_event(
        self, kind: str, payload: dict[str, Any], *, repo: str = "acme/repo0", ago: timedelta
    ) -> str:
        with self._data_lock:
            self._next_id += 1
            event_id = str(self._next_id)
            self.events.insert(
                0,
                {
                    "id": event_id,
                    "type": kind,
                    "actor": {"id": 1, "login": self.login, "display_login": self.login},
                    "repo": {"id": 7, "name": repo, "url": f"{self.url}/repos/{repo}"},
                    "payload": payload,
                    "public": False,
                    "created_at": iso(datetime.now(UTC) - ago),
                },
            )
            self.events.sort(key=lambda e: int(e["id"]), reverse=True)
        return event_id

    def add_push(self, commits: int, *, branch: str = "main", ago: timedelta) -> str:
        head = secrets.token_hex(20)
        self.pushes[head] = commits
        payload = {
            "repository_id": 7,
            "push_id": self._next_id,
            "ref": f"refs/heads/{branch}",
            "head": head,
            "before": secrets.token_hex(20),
        }
        return self.add_event("PushEvent", payload, ago=ago)

    # -- the API

    def routes(self) -> list[Route]:
        return [
            Route("/user", self._user),
            Route("/search/issues", self._search),
            Route("/users/{login}/events", self._events),
            Route("/repos/{owner}/{repo}/compare/{basehead}", self._compare),
        ]

    def _gate(self, request: Request, bucket: Bucket) -> tuple[str | None, Response | None]:
        """Authenticate and count the request: (login, None) or (None, the refusal)."""
        if self.html_instead:
            page = "<!DOCTYPE html><html><body><form action='/login'>Sign in</form></body></html>"
            return None, Response(page, 200, media_type="text/html")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        login = self.tokens.get(token)
        if login is None:
            body = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            return None, JSONResponse(body, 401)
        now = time.time()
        for prefix, scope in self.forbidden.items():
            if request.url.path.startswith(prefix):
                body = {"message": "Resource not accessible by personal access token"}
                return None, JSONResponse(body, 403, headers={"x-accepted-oauth-scopes": scope})
        if bucket is self.search and token in self.secondary:
            retry_after = self.secondary.pop(token)
            body = {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
            }
            headers = {**bucket.headers(now), "retry-after": f"{retry_after:g}"}
            return None, JSONResponse(body, 403, headers=headers)
        with self._data_lock:
            allowed = bucket.spend(now)
            headers = bucket.headers(now)
        if not allowed:
            body = {"message": f"API rate limit exceeded for user ID 1. ({bucket.resource})"}
            return None, JSONResponse(body, 403, headers=headers)
        return login, None

    def _conditional(self, request: Request, body: Any, bucket: Bucket, extra: dict[str, str]) -> Response:
        """A 200 with an ETag, or a 304 (not counted) when the client already has it."""
        text = json.dumps(body)
        etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
        headers = {**bucket.headers(time.time()), "etag": etag, **extra}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(text, 200, headers=headers, media_type="application/json")

    async def _user(self, request: Request) -> Response:
        login, refusal = self._gate_uncounted_if_fresh(request, self.core, self._user_body)
        if refusal is not None:
            return refusal
        body = self._user_body(login)
        return self._conditional(request, body, self.core, {"x-oauth-scopes": "repo, read:org"})

    def _user_body(self, login: str | None) -> dict[str, Any]:
        return {
            "login": login,
            "id": 1,
            "type": "User",
            "name": "The Octocat",
            "html_url": f"{self.url}/{login}",
        }

    def _gate_uncounted_if_fresh(
        self, request: Request, bucket: Bucket, body_of: Any
    ) -> tuple[str | None, Response | None]:
        """Conditional requests that will be answered 304 are authenticated but not counted."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        login = self.tokens.get(token)
        presented = request.headers.get("if-none-match")
        if login is not None and presented and not self.html_instead:
            text = json.dumps(body_of(login))
            if presented == '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"':
                return login, None
        return self._gate(request, bucket)

    async def _search(self, request: Request) -> Response:
        _, refusal = self._gate(request, self.search)
        if refusal is not None:
            return refusal
        query = request.query_params
        try:
            matches = self._matching(query.get("q", ""))
        except ValueError as error:
            body = {"message": "Validation Failed", "errors": [{"message": str(error), "code": "invalid"}]}
            return JSONResponse(body, 422, headers=self.search.headers(time.time()))
        descending = query.get("order", "desc") == "desc"
        if query.get("sort") == "updated":
            matches.sort(key=lambda i: (i.updated_at, i.id), reverse=descending)
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        if (page - 1) * per_page >= SEARCH_CAP:
            body = {
                "message": "Only the first 1000 search results are available",
                "documentation_url": "https://docs.github.com/v3/search/",
            }
            return JSONResponse(body, 422, headers=self.search.headers(time.time()))
        reachable = matches[:SEARCH_CAP]
        chunk = reachable[(page - 1) * per_page : page * per_page]
        body = {
            "total_count": len(matches),
            "incomplete_results": False,
            "items": [self._item_json(i) for i in chunk],
        }
        headers = {**self.search.headers(time.time()), **self._links(request, page, per_page, len(reachable))}
        return JSONResponse(body, headers=headers)

    def _matching(self, q: str) -> list[Item]:
        selected = list(self.items)
        for term in q.split():
            name, _, value = term.partition(":")
            if name == "involves":
                selected = [i for i in selected if value in i.involves]
            elif name == "updated":
                selected = [i for i in selected if _in_range(i.updated_at, value)]
            else:
                raise ValueError(f"the fake does not know the qualifier {term!r}")
        return selected

    def _item_json(self, item: Item) -> dict[str, Any]:
        kind = "pull" if item.pull else "issues"
        body: dict[str, Any] = {
            "id": item.id,
            "number": item.number,
            "title": item.title,
            "user": {"login": item.author},
            "state": "closed" if item.merged else "open",
            "html_url": f"{self.url}/{item.repo}/{kind}/{item.number}",
            "repository_url": f"{self.url}/repos/{item.repo}",
            "created_at": iso(item.created_at),
            "updated_at": iso(item.updated_at),
            "closed_at": iso(item.updated_at) if item.merged else None,
        }
        if item.pull:
            body["pull_request"] = {"html_url": body["html_url"], "merged_at": body["closed_at"]}
        return body

    async def _events(self, request: Request) -> Response:
        _, refusal = self._gate_uncounted_if_fresh(request, self.core, lambda _: self._event_page(request)[0])
        if refusal is not None:
            return refusal
        events, links = self._event_page(request)
        return self._conditional(request, events, self.core, {"x-poll-interval": "60", **links})

    def _event_page(self, request: Request) -> tuple[list[dict[str, Any]], dict[str, str]]:
        oldest = datetime.now(UTC) - timedelta(days=EVENTS_DAYS)
        timeline = [e for e in self.events if parse(e["created_at"]) >= oldest][:EVENTS_CAP]
        per_page = min(int(request.query_params.get("per_page", 30)), 100)
        page = int(request.query_params.get("page", 1))
        chunk = timeline[(page - 1) * per_page : page * per_page]
        return chunk, self._links(request, page, per_page, len(timeline))

    async def _compare(self, request: Request) -> Response:
        _, refusal = self._gate(request, self.core)
        if refusal is not None:
            return refusal
        head = request.path_params["basehead"].partition("...")[2]
        if head not in self.pushes:
            return JSONResponse({"message": "Not Found"}, 404, headers=self.core.headers(time.time()))
        count = self.pushes[head]
        body = {
            "status": "ahead",
            "ahead_by": count,
            "behind_by": 0,
            "total_commits": count,
            "commits": [{"sha": secrets.token_hex(20)} for _ in range(min(count, 250))],
        }
        return JSONResponse(body, headers=self.core.headers(time.time()))

    def _links(self, request: Request, page: int, per_page: int, total: int) -> dict[str, str]:
        last = max(1, -(-total // per_page))
        query = dict(request.query_params)

        def link(number: int, rel: str) -> str:
            url = f"{self.link_origin or self.url}{request.url.path}?{urlencode({**query, 'page': number})}"
            return f'<{url}>; rel="{rel}"'

        parts = []
        if page < last:
            parts += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            parts += [link(1, "first"), link(page - 1, "prev")]
        return {"link": ", ".join(parts)} if parts else {}


def _in_range(moment: datetime, value: str) -> bool:
    if ".." in value:
        low, high = value.split("..")
        return (low == "*" or moment >= parse(low)) and (high == "*" or moment <= parse(high))
    for operator, test in (
        (">=", moment.__ge__),
        ("<=", moment.__le__),
        (">", moment.__gt__),
        ("<", moment.__lt__),
    ):
        if value.startswith(operator):
            return test(parse(value[len(operator) :]))
    return iso(moment)[:10] == value
