"""A fake Google: OAuth 2.0 for installed apps and Calendar v3, written from Google's
documentation and served by FakeUpstream (its faults and request log, its own sign-in).

What it keeps of the real services:

- authorization (`GET /o/oauth2/v2/auth`): a registered client id, a loopback
  `redirect_uri`, `response_type=code`, PKCE `S256`; the person consents (or, with
  `consent = "deny"`, refuses) and the browser is redirected back with `code` and `state`;
- token (`POST /token`): an authorization code once only, for the same `redirect_uri`, with
  the verifier matching its challenge and the client's id and secret; it answers an access
  token, a refresh token and an ID token naming the e-mail. Refresh tokens do not rotate; a
  revoked one is `400 invalid_grant`;
- revoke (`POST /revoke`): ends the grant: its refresh token and access tokens;
- Calendar v3: `users/me/calendarList` and `calendars/{id}/events` with `maxResults`,
  `pageToken`, `nextSyncToken` on the last page only, `syncToken` (changes since, cancelled
  events included), refused with `timeMin`/`timeMax` or `showDeleted=false` (400) and
  `410 fullSyncRequired` once it has expired; `singleEvents=true` expands recurring events
  into instances with ids `<id>_<start>` and `recurringEventId`; a missing or dead bearer
  token is a 401; `usage_limited` answers `403 rateLimitExceeded`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fake_calendar import (
    Calendar,
    Stored,
    end_of,
    expand,
    google_error,
    iso,
    page_of,
    parse,
    start_of,
    sync_point,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from enttok.testing import FakeUpstream

CLIENT_ID = "fake-desktop-client.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-" + secrets.token_urlsafe(12)
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
API = "/calendar/v3"
SYNC_FILTERS = ("timeMin", "timeMax", "updatedMin", "q", "orderBy", "iCalUID")


class FakeGoogle(FakeUpstream):
    def __init__(self, *, email: str = "ada@example.com", access_token_ttl: float = 3599.0) -> None:
        self.email = email
        self.consent = "allow"
        """`allow`, `deny`, or `no_calendar` (the person unticked calendar access: Google's
        granular consent grants the other scopes only)."""
        self.calendars: dict[str, Calendar] = {}
        self.changes = 0
        self.expired_sync_tokens: set[str] = set()
        """Calendars whose sync tokens Google has expired: the next use is a 410."""
        self.refresh_count = 0
        self.usage_limited = 0
        """Event listings still to answer `403 rateLimitExceeded`, as Google's usage limits do."""
        self.revoked_tokens: list[str] = []
        self._codes: dict[str, dict[str, str]] = {}
        self._grants: dict[str, str] = {}  # refresh token -> e-mail
        self._live: dict[str, tuple[float, str]] = {}  # access token -> (expiry, refresh token)
        self._google_lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/o/oauth2/v2/auth", self._authorize, methods=["GET"]),
                Route("/token", self._token_endpoint, methods=["POST"]),
                Route("/revoke", self._revoke_endpoint, methods=["POST"]),
                Route(f"{API}/users/me/calendarList", self._calendar_list, methods=["GET"]),
                Route(API + "/calendars/{calendar_id:path}/events", self._events, methods=["GET"]),
            ]
        )
        super().__init__(app=app, access_token_ttl=access_token_ttl)
        self.add_calendar(email, "Ada", primary=True, time_zone="Europe/Berlin")

    # -- what the plugin's settings point at

    def endpoints(self) -> dict[str, str]:
        return {
            "client_id": CLIENT_ID,
            "auth_uri": f"{self.url}/o/oauth2/v2/auth",
            "token_uri": f"{self.url}/token",
            "revoke_uri": f"{self.url}/revoke",
            "api_endpoint": f"{self.url}{API}/",
        }

    # -- calendars and events

    def add_calendar(self, calendar_id: str, summary: str, **options: Any) -> Calendar:
        calendar = Calendar(calendar_id, summary, **options)
        self.calendars[calendar_id] = calendar
        return calendar

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event (a change the next incremental sync sees)."""
        with self._google_lock:
            self.changes += 1
            resource = {
                "kind": "calendar#event",
                "status": "confirmed",
                "updated": iso(datetime.now(UTC)),
                **event,
            }
            resource.setdefault("htmlLink", f"https://calendar.example/event?eid={event['id']}")
            self.calendars[calendar_id].events[event["id"]] = Stored(resource, self.changes)
            return resource

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        stored = self.calendars[calendar_id].events[event_id]
        self.put_event(calendar_id, {**stored.resource, "status": "cancelled"})

    def meeting(
        self,
        calendar_id: str,
        event_id: str,
        start: datetime,
        minutes: int = 30,
        *,
        response: str | None = "accepted",
        **extra: Any,
    ) -> dict[str, Any]:
        """A timed meeting; `response` is the person's own answer (None: they organised it)."""
        event: dict[str, Any] = {
            "id": event_id,
            "summary": extra.pop("summary", f"Meeting {event_id}"),
            "start": {"dateTime": iso(start), "timeZone": "UTC"},
            "end": {"dateTime": iso(start + timedelta(minutes=minutes)), "timeZone": "UTC"},
        }
        if response is None:
            event["organizer"] = {"email": self.email, "self": True}
        else:
            event["organizer"] = {"email": "boss@example.com"}
            event["attendees"] = [
                {"email": "boss@example.com", "organizer": True, "responseStatus": "accepted"},
                {"email": self.email, "self": True, "responseStatus": response},
            ]
        return self.put_event(calendar_id, {**event, **extra})

    def instances(self, calendar_id: str, *, include_cancelled: bool = False) -> list[dict[str, Any]]:
        """The calendar's events as `singleEvents=true` lists them."""
        out = []
        for stored in self.calendars[calendar_id].events.values():
            for instance in expand(stored.resource):
                if include_cancelled or instance.get("status") != "cancelled":
                    out.append(instance)
        return sorted(out, key=lambda e: e["id"])

    def expected_keys(self) -> set[tuple[str, str]]:
        return {
            (c.id, e["id"])
            for c in self.calendars.values()
            if c.selected or c.primary
            for e in self.instances(c.id)
        }

    # -- OAuth, as the conformance suite drives it

    def new_refresh_token(self) -> str:
        token = "1//fake-refresh-" + secrets.token_urlsafe(24)
        with self._google_lock:
            self._grants[token] = self.email
            self.issued.append(token)
        return token

    def expire_access_tokens(self) -> None:
        with self._google_lock:
            self._live.clear()

    def revoke(self, refresh_token: str | None = None) -> None:
        with self._google_lock:
            for token in [refresh_token] if refresh_token else list(self._grants):
                self._grants.pop(token, None)

    def authorized(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        with self._google_lock:
            live = self._live.get(token)
        return live is not None and live[0] > self.clock.now() and live[1] in self._grants

    @property
    def refreshes(self) -> int:
        return self.refresh_count

    # -- the endpoints

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID:
            return Response("Error 401: invalid_client", status_code=401)
        if not redirect_uri.startswith(("http://127.0.0.1:", "http://localhost:")):
            return Response("Error 400: redirect_uri_mismatch", status_code=400)
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return Response("Error 400: invalid_request", status_code=400)
        if CALENDAR_SCOPE not in query.get("scope", "").split() or not query.get("code_challenge"):
            return Response("Error 400: invalid_request", status_code=400)
        answer: dict[str, str] = {"state": query.get("state", "")}
        if self.consent == "deny":
            answer["error"] = "access_denied"
        else:
            code = "4/fake-code-" + secrets.token_urlsafe(16)
            granted = [
                s
                for s in query["scope"].split()
                if not (self.consent == "no_calendar" and s == CALENDAR_SCOPE)
            ]
            scope = " ".join(granted)
            self._codes[code] = {
                "challenge": query["code_challenge"],
                "redirect_uri": redirect_uri,
                "scope": scope,
            }
            answer |= {"code": code, "scope": scope}
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)

    async def _token_endpoint(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Unauthorized"}, status_code=401
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self._codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if (
                issued is None
                or form.get("redirect_uri") != issued["redirect_uri"]
                or _s256(verifier) != issued["challenge"]
            ):
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400
                )
            refresh = self.new_refresh_token()
            return JSONResponse(
                {
                    **self._access_token(refresh),
                    "refresh_token": refresh,
                    "scope": issued["scope"],
                    "id_token": _id_token(self.email),
                }
            )
        if grant == "refresh_token":
            self.refresh_count += 1
            refresh = form.get("refresh_token", "")
            if refresh not in self._grants:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
                    status_code=400,
                )
            return JSONResponse({**self._access_token(refresh), "scope": CALENDAR_SCOPE})
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _access_token(self, refresh: str) -> dict[str, Any]:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._google_lock:
            self._live[token] = (self.clock.now() + self.access_token_ttl, refresh)
            self.issued.append(token)
        return {"access_token": token, "expires_in": int(self.access_token_ttl), "token_type": "Bearer"}

    async def _revoke_endpoint(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        token = form.get("token") or request.query_params.get("token", "")
        with self._google_lock:
            grant = token if token in self._grants else self._live.get(token, (0, None))[1]
            if grant is None or grant not in self._grants:
                return JSONResponse(
                    {"error": "invalid_token", "error_description": "Token expired or revoked"},
                    status_code=400,
                )
            self._grants.pop(grant)
            self.revoked_tokens.append(grant)
        return JSONResponse({})

    async def _calendar_list(self, request: Request) -> Response:
        if not self.authorized(request):
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        entries = [
            {
                "kind": "calendar#calendarListEntry",
                "id": c.id,
                "summary": c.summary,
                "timeZone": c.time_zone,
                "accessRole": "owner" if c.primary else "reader",
                "backgroundColor": "#9fe1e7",
                **({"primary": True} if c.primary else {}),
                **({"selected": True} if c.selected else {}),
            }
            for c in self.calendars.values()
        ]
        return JSONResponse(
            {"kind": "calendar#calendarList", **page_of(entries, request, f"list:{self.changes}")}
        )

    async def _events(self, request: Request) -> Response:
        if not self.authorized(request):
            return google_error(401, "authError", "Request had invalid authentication credentials.")
        calendar = self.calendars.get(request.path_params["calendar_id"])
        if calendar is None:
            return google_error(404, "notFound", "Not Found")
        query = request.query_params
        if self.usage_limited > 0:
            self.usage_limited -= 1
            return google_error(403, "rateLimitExceeded", "Rate Limit Exceeded")
        if query.get("singleEvents") != "true":
            return google_error(400, "invalid", "this fake serves singleEvents=true only")
        sync_token = query.get("syncToken")
        if sync_token:
            if any(name in query for name in SYNC_FILTERS) or query.get("showDeleted") == "false":
                message = "Sync token cannot be used with other request restrictions."
                return google_error(400, "syncTokenWithRequestRestrictions", message)
            since = sync_point(sync_token, calendar.id)
            if since is None or calendar.id in self.expired_sync_tokens:
                self.expired_sync_tokens.discard(calendar.id)
                return google_error(
                    410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
                )
            changed = [s.resource for s in calendar.events.values() if s.changed > since]
            items = sorted((i for r in changed for i in expand(r)), key=lambda e: e["id"])
        else:
            items = self.instances(calendar.id, include_cancelled=query.get("showDeleted") == "true")
            if "timeMin" in query:
                items = [e for e in items if end_of(e) > parse(query["timeMin"])]
            if "timeMax" in query:
                items = [e for e in items if start_of(e) < parse(query["timeMax"])]
        body = {
            "kind": "calendar#events",
            "summary": calendar.summary,
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
        }
        return JSONResponse({**body, **page_of(items, request, f"sync:{calendar.id}:{self.changes}")})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _id_token(email: str) -> str:
    """An ID token's shape (header.claims.signature); the plugin reads the claims only."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "sub": "1234567890",
        "email": email,
        "email_verified": True,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{part({'sig': 'fake'})}"
