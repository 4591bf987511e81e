"""enttok-google-calendar: a person's Google calendars and the meetings they attended.

- Sign-in is OAuth 2.0 for installed apps (`routes.py`, `signin.py`): the app opens the URL
  `POST /plugins/google_calendar/oauth/start` gives it in the system browser, Google sends
  the browser back to this host's callback, and the account (keyed by the Google e-mail)
  keeps its refresh token in the keyring.
- `google_calendar.sync` `{"account_id": str}`: the calendar list, then the events of each
  selected calendar, incrementally with Google's sync tokens (see `sync.py`); without
  `account_id`, one job per account, which is what the schedule submits every 30 minutes.

This module is what the entry point names, so it stays cheap: pydantic models and
declarations only. The Google SDK loads with the first sync (`"module:function"`).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from starlette.routing import BaseRoute

from enttok import Account, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost

PLUGIN_API_VERSION = 1
SYNC_EVERY_MINUTES = 30
SCOPES = ("openid", "email", "https://www.googleapis.com/auth/calendar.readonly")
"""`openid email` make the token response carry an ID token naming the account's e-mail."""


class GoogleAccount(BaseModel):
    """One Google account, signed in through `oauth/start`; its id is its e-mail. Validated
    only by an account call, so its validator is built on the first one, not at start."""

    model_config = ConfigDict(defer_build=True)

    email: str = Field(description="The Google account's e-mail address.")
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token from the sign-in.")


class GoogleCalendarSettings(BaseModel):
    client_id: str = Field(
        "", description="The OAuth client id of a Desktop app client (else GOOGLE_CLIENT_ID)."
    )
    auth_uri: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", description="Authorization endpoint."
    )
    token_uri: str = Field("https://oauth2.googleapis.com/token", description="Token endpoint.")
    revoke_uri: str = Field("https://oauth2.googleapis.com/revoke", description="Revocation endpoint.")
    api_endpoint: str = Field(
        "https://www.googleapis.com/calendar/v3/",
        description="The Calendar API's base URL, service path included.",
    )
    window_days: int = Field(30, ge=1, le=3650, description="How far back the first sync of a calendar goes.")

    @field_validator("auth_uri", "token_uri", "revoke_uri", "api_endpoint")
    @classmethod
    def _http_address(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value


def client_credentials(settings: GoogleCalendarSettings) -> tuple[str, str] | None:
    """The OAuth client (id, secret): the id from the settings or GOOGLE_CLIENT_ID, the secret
    from GOOGLE_CLIENT_SECRET only (plugin settings are stored in clear); None if either lacks."""
    client_id = settings.client_id or os.environ.get("GOOGLE_CLIENT_ID", "")
    client_secret = os.environ.get("GOOGLE_CLIENT_SECRET", "")
    return (client_id, client_secret) if client_id and client_secret else None


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    account_id: str | None = Field(
        None, min_length=1, description="The account to sync; without it, every account (one job each)."
    )
    page_size: int = Field(250, ge=1, le=2500, description="Events per request (Google allows 2500).")


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType(
            "google_calendar.sync",
            "enttok_google_calendar.sync:sync",
            SyncPayload,
            description="Sync the calendars and events of a Google account (or of every account).",
            max_attempts=5,
            timeout=900,
            concurrency=2,
        )
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    return [Schedule("sync", "google_calendar.sync", {}, interval=SYNC_EVERY_MINUTES * 60)]


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return GoogleAccount


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return GoogleCalendarSettings


@hookimpl
async def enttok_account_removed(host: PluginHost, account: Account) -> None:
    """Removing an account revokes its grant at Google too, as disconnecting does: the
    person expects the app to lose its access, not only its copy of the token."""
    from enttok_google_calendar.signin import revoke

    token = account.secret("refresh_token")
    if token:
        await revoke(host.settings, token)  # type: ignore[arg-type]


@hookimpl
def enttok_routes() -> list[BaseRoute]:
    from enttok_google_calendar.routes import routes

    return routes


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE google_calendar_calendars (
                account_id TEXT NOT NULL,
                calendar_id TEXT NOT NULL,
                summary TEXT,
                description TEXT,
                time_zone TEXT,
                is_primary INTEGER NOT NULL DEFAULT 0,
                access_role TEXT,
                color TEXT,
                selected INTEGER NOT NULL,
                PRIMARY KEY (account_id, calendar_id)
            );
            CREATE TABLE google_calendar_events (
                account_id TEXT NOT NULL,
                calendar_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                recurring_event_id TEXT,
                status TEXT NOT NULL,
                summary TEXT,
                description TEXT,
                location TEXT,
                all_day INTEGER NOT NULL,
                starts_at TEXT NOT NULL,
                ends_at TEXT NOT NULL,
                start_date TEXT,
                end_date TEXT,
                time_zone TEXT,
                html_link TEXT,
                conference_url TEXT,
                organizer TEXT,
                self_response TEXT,
                attended INTEGER NOT NULL,
                updated TEXT,
                PRIMARY KEY (account_id, calendar_id, event_id)
            );
            CREATE INDEX google_calendar_events_time ON google_calendar_events (account_id, starts_at);
            """,
            "calendars (with the user's choice of which to sync) and their events, recurrences expanded",
        )
    ]
