"""A fake Confluence, written from Atlassian's REST API v1 documentation, served by FakeUpstream.

What it keeps of the real thing:

- Cloud lives under the site's `/wiki` (`/wiki/rest/api/...`); a Data Center site under its
  context path (`/confluence/rest/api/...`). A path outside it is a 404, so a client that
  joins `_links.next` to the host alone, dropping `/wiki`, fails on page 2 as on Cloud;
- Cloud signs in with Basic `email:api-token`, Data Center with `Bearer <personal access
  token>`; refused credentials are a 401 with Confluence's error body;
- `GET rest/api/content/{id}/version`: a page's versions, newest first;
- `GET rest/api/user/current` (Cloud: `accountId`, `displayName`; Data Center: `username`,
  `userKey`), `GET rest/api/settings/systemInfo` (Cloud only, with `defaultTimeZone`);
- `GET rest/api/content/search?cql=&expand=&limit=`: the CQL clauses a connector sends
  (`type in (...)`, `contributor = currentUser()`, `lastmodified >= "yyyy-MM-dd HH:mm"`
  read in the site's time zone at minute resolution, `space = X`, `space in (...)`,
  parentheses, `ORDER BY lastmodified ASC|DESC`), anything else a 400 "Could not parse
  cql"; results as `Content` with `space`, `version`, `history` and `body.storage`; and
  `_links.next` relative to `_links.base`, with a `cursor` on Cloud and `start` on Data Center;
- a site behind single sign-on answers every request with its HTML sign-in page.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from enttok.testing import FakeUpstream

SEARCH = "rest/api/content/search"


@dataclass(frozen=True)
class User:
    id: str  # Cloud: accountId; Data Center: userKey
    name: str
    username: str


@dataclass
class Version:
    number: int
    when: datetime
    by: User


@dataclass
class Content:
    id: str
    type: str
    title: str
    space: tuple[str, str]  # key, name
    body: str
    versions: list[Version] = field(default_factory=list)

    @property
    def modified(self) -> datetime:
        return self.versions[-1].when


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CqlError(ValueError):
    pass


class FakeConfluence(FakeUpstream):
    def __init__(self, *, cloud: bool = True, time_zone: str = "America/New_York", context: str = "") -> None:
        self.cloud = cloud
        self.context = "/wiki" if cloud else context
        self.zone = ZoneInfo(time_zone)
        self.me = User("5b10ac8d82e05b22cc7d4ef5", "Ada Lovelace", "ada")
        self.other = User("5b10a2844c20165700ede21g", "Grace Hopper", "grace")
        self.email = "ada@example.com"
        self.tokens: dict[str, User] = {}
        self.contents: list[Content] = []
        self.forbidden: str | None = None
        """A message: the search is refused 403 with it (the user may not use Confluence)."""
        self.sign_in_page = False
        """Single sign-on in front of the site: every answer is its HTML sign-in page."""
        self._lock = threading.Lock()
        self._next_id = 65000
        prefix = self.context
        routes = [
            Route(f"{prefix}/rest/api/user/current", self._current_user),
            Route(f"{prefix}/{SEARCH}", self._search),
            Route(f"{prefix}/rest/api/content/{{content_id}}/version", self._versions),
        ]
        if cloud:
            routes.append(Route(f"{prefix}/rest/api/settings/systemInfo", self._system_info))
        super().__init__(routes, oauth=False)

    @property
    def search_path(self) -> str:
        return f"{self.context}/{SEARCH}"

    @property
    def base(self) -> str:
        return self.url + self.context

    # -- setting the scene

    def new_token(self, user: User | None = None) -> str:
        token = ("ATATT3x" if self.cloud else "NjQ") + secrets.token_urlsafe(24)
        self.tokens[token] = user or self.me
        self.issued.append(token)  # for the kit's leak checks
        return token

    def revoke(self, token: str | None = None) -> None:
        if token is None:
            self.tokens.clear()
        else:
            self.tokens.pop(token, None)

    def add(
        self,
        title: str,
        *,
        when: datetime,
        by: User | None = None,
        kind: str = "page",
        space: tuple[str, str] = ("DEV", "Development"),
        body: str = "<p>Notes.</p>",
    ) -> Content:
        with self._lock:
            self._next_id += 1
            content = Content(str(self._next_id), kind, title, space, body, [Version(1, when, by or self.me)])
            self.contents.append(content)
        return content

    def add_pages(self, count: int, *, by: User | None = None, days: float = 25) -> list[Content]:
        """`count` pages created one after another over the last `days`, the newest an hour ago."""
        now = datetime.now(UTC).replace(microsecond=0)
        spacing = timedelta(days=days) / max(count, 1)
        return [
            self.add(f"Page {n + 1}", when=now - timedelta(hours=1) - spacing * (count - 1 - n), by=by)
            for n in range(count)
        ]

    def edit(self, content: Content, *, by: User | None = None, when: datetime | None = None) -> Version:
        version = Version(
            content.versions[-1].number + 1, when or datetime.now(UTC).replace(microsecond=0), by or self.me
        )
        content.versions.append(version)
        return version

    # -- the API

    def _gate(self, request: Request) -> tuple[User | None, Response | None]:
        if self.sign_in_page:
            page = "<!DOCTYPE html><html><head><title>Log in</title></head><body><form>Sign in</form></body></html>"
            return None, Response(page, 200, media_type="text/html")
        header = request.headers.get("authorization", "")
        user = None
        if self.cloud and header.startswith("Basic "):
            email, _, token = base64.b64decode(header[6:]).decode().partition(":")
            user = self.tokens.get(token) if email == self.email else None
        elif not self.cloud and header.startswith("Bearer "):
            user = self.tokens.get(header[7:])
        if user is None:
            return None, _error(401, "Unauthorized", "Client must be authenticated to access this resource.")
        return user, None

    async def _current_user(self, request: Request) -> Response:
        user, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        assert user is not None
        return JSONResponse(self._user(user))

    def _user(self, user: User) -> dict[str, Any]:
        if self.cloud:
            return {
                "type": "known",
                "accountId": user.id,
                "accountType": "atlassian",
                "publicName": user.name,
                "displayName": user.name,
                "_links": {"self": f"{self.base}/rest/api/user?accountId={user.id}"},
            }
        return {"type": "known", "username": user.username, "userKey": user.id, "displayName": user.name}

    async def _system_info(self, request: Request) -> Response:
        _, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        return JSONResponse(
            {
                "cloudId": "0c3b0e5e-7a8a-4b62-9d2e-2f1d3a6c9b11",
                "commitHash": "4e1a6f0",
                "baseUrl": self.base,
                "edition": "standard",
                "siteTitle": "Confluence",
                "defaultLocale": "en_US",
                "defaultTimeZone": self.zone.key,
            }
        )

    async def _search(self, request: Request) -> Response:
        user, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        assert user is not None
        if self.forbidden:
            return _error(403, "Forbidden", self.forbidden)
        query = dict(request.query_params)
        try:
            matches = self._matching(query.get("cql", ""), user)
        except CqlError as error:
            return _error(400, "Bad Request", f"Could not parse cql : {query.get('cql', '')} ({error})")
        limit = min(int(query.get("limit", 25)), 100)
        offset = _decode_cursor(query["cursor"]) if "cursor" in query else int(query.get("start", 0))
        chunk = matches[offset : offset + limit]
        links: dict[str, Any] = {
            "base": self.base,
            "context": self.context,
            "self": f"{self.base}/{SEARCH}?{urlencode(query)}",
        }
        if offset + limit < len(matches):
            following = {k: v for k, v in query.items() if k not in ("cursor", "next", "start")}
            if self.cloud:
                following.update({"next": "true", "cursor": _encode_cursor(offset + limit)})
            else:
                following["start"] = str(offset + limit)
            links["next"] = f"/{SEARCH}?{urlencode(following)}"  # relative to base: no /wiki
        body = {
            "results": [self._content(c) for c in chunk],
            "start": offset,
            "limit": limit,
            "size": len(chunk),
            "_links": links,
        }
        return JSONResponse(body)

    async def _versions(self, request: Request) -> Response:
        """`GET rest/api/content/{id}/version`: the versions, newest first, `start` and `limit`."""
        _, refusal = self._gate(request)
        if refusal is not None:
            return refusal
        content = next((c for c in self.contents if c.id == request.path_params["content_id"]), None)
        if content is None:
            return _error(404, "Not Found", f"No content found with id: {request.path_params['content_id']}")
        start, limit = int(request.query_params.get("start", 0)), int(request.query_params.get("limit", 200))
        chunk = list(reversed(content.versions))[start : start + limit]
        results = [
            {
                "by": self._user(v.by),
                "when": iso(v.when),
                "number": v.number,
                "message": "",
                "minorEdit": False,
            }
            for v in chunk
        ]
        body = {"results": results, "start": start, "limit": limit, "size": len(results), "_links": {}}
        return JSONResponse(body)

    def _content(self, content: Content) -> dict[str, Any]:
        latest, first = content.versions[-1], content.versions[0]
        key, name = content.space
        kind = "pages" if content.type == "page" else "blog"
        return {
            "id": content.id,
            "type": content.type,
            "status": "current",
            "title": content.title,
            "space": {"id": 98306, "key": key, "name": name, "type": "global", "status": "current"},
            "history": {
                "latest": True,
                "createdBy": self._user(first.by),
                "createdDate": iso(first.when),
            },
            "version": {
                "by": self._user(latest.by),
                "when": iso(latest.when),
                "number": latest.number,
                "minorEdit": False,
            },
            "body": {"storage": {"value": content.body, "representation": "storage"}},
            "_links": {
                "webui": f"/spaces/{key}/{kind}/{content.id}/{content.title.replace(' ', '+')}",
                "tinyui": f"/x/{content.id}",
                "self": f"{self.base}/rest/api/content/{content.id}",
            },
        }

    # -- CQL, as much of it as a connector sends

    def _matching(self, cql: str, user: User) -> list[Content]:
        lowered = cql.lower()
        where, order = cql, "asc"
        if " order by " in lowered:
            cut = lowered.index(" order by ")
            where, ordering = cql[:cut], lowered[cut + len(" order by ") :].split()
            if ordering[0] != "lastmodified":
                raise CqlError(f"the fake orders by lastmodified only, not {ordering[0]}")
            order = ordering[1] if len(ordering) > 1 else "asc"
        with self._lock:
            selected = [c for c in self.contents if self._satisfies(where, c, user)]
        selected.sort(key=lambda c: (c.modified, c.id), reverse=order == "desc")
        return selected

    def _satisfies(self, where: str, content: Content, user: User) -> bool:
        return all(self._clause(clause, content, user) for clause in _split_and(where))

    def _clause(self, clause: str, content: Content, user: User) -> bool:
        clause = clause.strip()
        if clause.startswith("(") and clause.endswith(")"):
            return self._satisfies(clause[1:-1], content, user)
        name, operator, value = _parts(clause)
        if name == "type" and operator == "in":
            return content.type in _values(value)
        if name == "space" and operator == "=":
            return content.space[0] == value.strip('"')
        if name == "space" and operator == "in":
            return content.space[0] in _values(value)
        if name == "contributor" and operator == "=" and value.lower() == "currentuser()":
            return user in {v.by for v in content.versions}
        if name == "lastmodified" and operator in (">=", ">"):
            local = datetime.strptime(value.strip('"'), "%Y-%m-%d %H:%M").replace(tzinfo=self.zone)
            if operator == ">":
                local += timedelta(minutes=1)  # minute resolution: after 10:07 is from 10:08
            return content.modified >= local
        raise CqlError(f"the fake does not know the clause {clause!r}")


def _split_and(where: str) -> list[str]:
    """The clauses joined by AND at the top level (not inside parentheses)."""
    clauses, depth, start, upper = [], 0, 0, where.upper()
    for index, char in enumerate(where):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and upper.startswith(" AND ", index):
            clauses.append(where[start:index])
            start = index + len(" AND ")
    clauses.append(where[start:])
    return [c for c in clauses if c.strip()]


def _parts(clause: str) -> tuple[str, str, str]:
    for operator in (">=", "<=", "!=", " in ", "=", ">", "<"):
        if operator in clause.lower():
            at = clause.lower().index(operator)
            return clause[:at].strip().lower(), operator.strip(), clause[at + len(operator) :].strip()
    raise CqlError(f"no operator in {clause!r}")


def _values(value: str) -> set[str]:
    return {v.strip().strip('"') for v in value.strip("()").split(",")}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    return int(json.loads(base64.urlsafe_b64decode(cursor))["offset"])


def _error(status: int, reason: str, message: str) -> JSONResponse:
    body = {
        "statusCode": status,
        "data": {"authorized": status not in (401, 403), "valid": True, "errors": [], "successful": False},
        "message": message,
        "reason": reason,
    }
    return JSONResponse(body, status)
