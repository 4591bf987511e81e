"""The plugin's routes under `/plugins/google_calendar/`: the sign-in, the calendars and the
events, read from the local tables.

Only `oauth/callback` is reached without the host's token (`documented(..., public=True)`):
the system browser brings it there. It answers nothing but a fixed page, and acts only for a
`state` this host handed out in the last ten minutes and never saw back before.

The other routes read and refuse input through `enttok.routes`, so bad input is the host's
4xx naming the field, `{"error": {"code", "message", "details"}}`, with the host's checks.

The host imports this module when it starts, so the sign-in and event helpers are imported by
the handlers that use them, and the request models are built on first use.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from enttok.api.openapi import documented
from enttok.plugin_host import plugin_host
from enttok.routes import ApiError, body, query
from enttok_google_calendar import GoogleCalendarSettings, client_credentials

if TYPE_CHECKING:
    from enttok_google_calendar.signin import SignIns

PLUGIN = "google_calendar"
CALLBACK = f"/plugins/{PLUGIN}/oauth/callback"


@cache
def _sign_ins() -> SignIns:
    """This host's sign-ins under way: one registry for the host's life, made by the first
    sign-in route that needs it."""
    from enttok_google_calendar.signin import SignIns

    return SignIns()


def _settings(request: Request) -> GoogleCalendarSettings:
    return plugin_host(request, PLUGIN).settings  # type: ignore[return-value]


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    login_hint: str | None = Field(None, max_length=320, description="The e-mail to sign in as, if known.")


class StartAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)
    authorization_url: str
    state: str
    expires_in: int


@documented(
    "Start a Google sign-in: the URL to open in the system browser",
    body=StartBody,
    response=StartAnswer,
    errors=(409,),
)
async def oauth_start(request: Request) -> Response:
    from enttok_google_calendar.signin import authorization_url

    asked = await body(request, StartBody)  # optional: a bare POST asks for nothing
    settings = _settings(request)
    client = client_credentials(settings)
    if client is None:
        raise ApiError(
            409,
            "client_not_configured",
            "No OAuth client: set plugins.google_calendar.client_id (or GOOGLE_CLIENT_ID) and GOOGLE_CLIENT_SECRET.",
        )
    port = request.url.port or request.scope["server"][1]
    sign_in = _sign_ins().start(f"http://127.0.0.1:{port}{CALLBACK}")
    url = authorization_url(settings, client[0], sign_in, asked.login_hint)
    return JSONResponse({"authorization_url": url, "state": sign_in.state, "expires_in": 600})


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>enttok</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


def _page(status: int, title: str, text: str) -> HTMLResponse:
    headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(PAGE.format(title=title, text=text), status_code=status, headers=headers)


@documented(
    "Google's redirect after a sign-in (reached by the browser, without the token)",
    public=True,
    errors=(400,),
)
async def oauth_callback(request: Request) -> Response:
    from enttok_google_calendar.signin import SignInFailed, exchange_code

    sign_in = _sign_ins().spend(request.query_params.get("state", ""))
    if sign_in is None:
        return _page(
            400,
            "This sign-in link is not valid",
            "It has expired or was already used. Start again in enttok.",
        )
    code, error = request.query_params.get("code"), request.query_params.get("error")
    host = plugin_host(request, PLUGIN)
    settings = _settings(request)
    client = client_credentials(settings)
    try:
        if error or not code or client is None:
            raise SignInFailed(
                "access was denied" if error == "access_denied" else "Google sent no authorization code"
            )
        email, refresh_token = await exchange_code(settings, client, sign_in, code)
        await asyncio.to_thread(host.save_account, email, {"email": email, "refresh_token": refresh_token})
    except SignInFailed as failure:
        sign_in.outcome = {"status": "failed", "error": str(failure)}
        host.logger.warning("Google sign-in failed: %s", failure)
        return _page(400, "Sign-in failed", f"{failure}. You can close this tab and try again in enttok.")
    except Exception as failure:  # the account store refused: say so, without the values it held
        sign_in.outcome = {"status": "failed", "error": "the account could not be saved"}
        host.logger.warning("Google sign-in: saving the account failed (%s)", type(failure).__name__)
        return _page(500, "Sign-in failed", "The account could not be saved. Try again in enttok.")
    sign_in.outcome = {"status": "succeeded", "account_id": email}
    host.emit("signed_in", f"signed in to Google as {email}", account_id=email)
    return _page(200, "Signed in to Google Calendar", "You can close this tab and go back to enttok.")


@documented(
    "The outcome of a sign-in: pending, succeeded (with the account), failed or expired", errors=(404,)
)
async def oauth_status(request: Request) -> Response:
    outcome = _sign_ins().outcome(request.path_params["state"])
    if outcome is None:
        raise ApiError(404, "not_found", "No sign-in has this state.", field="state")
    if outcome["status"] == "exchanging":
        outcome = {"status": "pending"}
    return JSONResponse(outcome)


@documented("Sign out: revoke the account's grant at Google and forget its refresh token", errors=(404, 502))
async def disconnect(request: Request) -> Response:
    from enttok_google_calendar.signin import RevokeFailed, revoke

    host = plugin_host(request, PLUGIN)
    account_id = request.path_params["account_id"]
    try:
        account = await asyncio.to_thread(host.account, account_id)
    except LookupError:
        raise ApiError(
            404, "account_not_found", f"{PLUGIN} has no account {account_id!r}.", field="account_id"
        ) from None
    token = account.secret("refresh_token")
    if token:
        try:
            await revoke(_settings(request), token)
        except RevokeFailed as failure:
            raise ApiError(502, "revoke_failed", f"{failure}.") from None
    await asyncio.to_thread(host.save_account, account_id, {"refresh_token": None}, status="needs_reauth")
    return JSONResponse({"account_id": account_id, "revoked": bool(token)})


CALENDAR_COLUMNS = (
    "account_id, calendar_id, summary, description, time_zone, is_primary, access_role, color, selected"
)


def _query(request: Request, sql: str, parameters: tuple[Any, ...]) -> list[dict[str, Any]]:
    connection = plugin_host(request, PLUGIN).connect()
    try:
        cursor = connection.execute(sql, parameters)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        connection.close()


def _calendar_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "is_primary": bool(row["is_primary"]), "selected": bool(row["selected"])}


class CalendarsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    account_id: str | None = Field(
        None, description="Only this account's calendars (empty: every account's)."
    )


@documented(
    "The calendars of every account (or of `account_id`), and whether each is synced",
    query=CalendarsQuery,
    errors=(422,),
)
async def list_calendars(request: Request) -> Response:
    account_id = query(request, CalendarsQuery).account_id
    where, parameters = ("WHERE account_id = ?", (account_id,)) if account_id else ("", ())
    rows = await asyncio.to_thread(
        _query,
        request,
        f"SELECT {CALENDAR_COLUMNS} FROM google_calendar_calendars {where} ORDER BY account_id, is_primary DESC, summary",
        parameters,
    )
    return JSONResponse({"calendars": [_calendar_view(row) for row in rows]})


class SelectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    account_id: str = Field(min_length=1)
    calendar_id: str = Field(min_length=1)
    selected: bool


@documented("Choose whether a calendar is synced", body=SelectBody, errors=(404,))
async def select_calendar(request: Request) -> Response:
    asked = await body(request, SelectBody)

    def update() -> list[dict[str, Any]]:
        connection = plugin_host(request, PLUGIN).connect()
        try:
            connection.execute(
                "UPDATE google_calendar_calendars SET selected = ? WHERE account_id = ? AND calendar_id = ?",
                (int(asked.selected), asked.account_id, asked.calendar_id),
            )
            connection.commit()
        finally:
            connection.close()
        return _query(
            request,
            f"SELECT {CALENDAR_COLUMNS} FROM google_calendar_calendars WHERE account_id = ? AND calendar_id = ?",
            (asked.account_id, asked.calendar_id),
        )

    rows = await asyncio.to_thread(update)
    if not rows:
        raise ApiError(404, "calendar_not_found", "No such calendar for that account.", field="calendar_id")
    return JSONResponse(_calendar_view(rows[0]))


DayOrMoment = Annotated[
    datetime,
    WithJsonSchema({"anyOf": [{"type": "string", "format": f} for f in ("date", "date-time")]}),
]
"""A day (`2026-01-05`, read as its 00:00) or a moment. Not `date | datetime`: pydantic names
the union member in an error's location (`start.date`), and the field to name is `start`."""


class EventsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    start: DayOrMoment = Field(description="From this day (00:00 UTC) or moment.")
    end: DayOrMoment = Field(description="Up to this day (exclusive) or moment.")
    account_id: str | None = None
    calendar_id: str | None = None


def _moment(value: datetime) -> str:
    """A moment without an offset (a day's 00:00 among them) as UTC."""
    from enttok_google_calendar.events import iso_utc

    return iso_utc(value if value.tzinfo else value.replace(tzinfo=UTC))


@documented("Events overlapping a date range, from the local tables", query=EventsQuery, errors=(422,))
async def list_events(request: Request) -> Response:
    asked = query(request, EventsQuery)
    bounds: dict[str, str] = {}
    for field in ("start", "end"):
        try:
            bounds[field] = _moment(getattr(asked, field))
        except OverflowError:  # a moment near year 1 or 9999 that UTC cannot hold
            raise ApiError(
                422, "invalid_input", f"Invalid input: {field}: out of range.", field=field
            ) from None
    start, end = bounds["start"], bounds["end"]
    if end <= start:
        raise ApiError(422, "invalid_input", "Invalid input: end: must be after start.", field="end")
    # Only calendars still synced: one switched off keeps its rows (and its sync token) for
    # when it is switched on again, but no longer shows.
    sql = (
        "SELECT e.* FROM google_calendar_events e JOIN google_calendar_calendars c"
        " ON c.account_id = e.account_id AND c.calendar_id = e.calendar_id"
        " WHERE c.selected = 1 AND e.starts_at < ? AND e.ends_at > ?"
    )
    parameters: tuple[Any, ...] = (end, start)
    for column in ("account_id", "calendar_id"):
        if getattr(asked, column):
            sql += f" AND e.{column} = ?"
            parameters += (getattr(asked, column),)
    rows = await asyncio.to_thread(_query, request, sql + " ORDER BY e.starts_at, e.event_id", parameters)
    events = [{**row, "all_day": bool(row["all_day"]), "attended": bool(row["attended"])} for row in rows]
    return JSONResponse({"events": events})


routes = [
    Route("/oauth/start", oauth_start, methods=["POST"]),
    Route("/oauth/callback", oauth_callback, methods=["GET"]),
    Route("/oauth/status/{state}", oauth_status, methods=["GET"]),
    Route("/accounts/{account_id}/disconnect", disconnect, methods=["POST"]),
    Route("/calendars", list_calendars, methods=["GET"]),
    Route("/calendars/selected", select_calendar, methods=["POST"]),
    Route("/events", list_events, methods=["GET"]),
]
