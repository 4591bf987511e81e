"""enttok-confluence: the Confluence pages and blog posts a person created or edited, on
Confluence Cloud or a Server/Data Center site, synced into the activity timeline.

- `confluence.sync` `{"account_id": str}`: one account (see `sync.py`); without
  `account_id`, one job per account, which is what the schedule submits every 30 minutes.

This module is what the entry point names, so it stays cheap: pydantic models and
declarations only. atlassian-python-api (and requests) load on the first job
(`"module:function"`) or the first account check.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from enttok import Account, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost

PLUGIN_API_VERSION = 1
SYNC_EVERY_MINUTES = 30


class ConfluenceAccount(BaseModel):
    """One person on one Confluence site. With an email it is Confluence Cloud (the email and
    an API token); without, a Server/Data Center site and a personal access token. One Atlassian
    Cloud account serves Jira and Confluence with the same email and API token."""

    model_config = ConfigDict(defer_build=True)

    site_url: str = Field(
        description="The site's address: https://your-domain.atlassian.net for Cloud, or the server's "
        "address with its context path (e.g. https://wiki.example.com/confluence) for Data Center."
    )
    email: str | None = Field(
        None, description="Cloud: the email of the Atlassian account. Leave empty for Server/Data Center."
    )
    token: SecretStr = Field(
        description="Cloud: an API token (id.atlassian.com, Security). Server/Data Center: a personal access token."
    )
    time_zone: str | None = Field(
        None,
        description="Server/Data Center: the site's time zone (e.g. Europe/Berlin), in which Confluence reads "
        "the dates of a search. Cloud sites say theirs; without it, each sync searches 12 hours further back.",
    )

    @field_validator("site_url")
    @classmethod
    def _http_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value

    @field_validator("email")
    @classmethod
    def _email_or_nothing(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and "@" not in value:
            raise ValueError("must be an email address, or empty for Confluence Server/Data Center")
        return value or None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be a time zone name such as Europe/Berlin or America/New_York") from None
        return value

    @property
    def cloud(self) -> bool:
        return self.email is not None


class ConfluenceSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    window_days: int = Field(
        30, ge=1, le=365, description="How far back the first sync of an account goes, in days."
    )
    extra_cql: str = Field(
        "",
        max_length=1000,
        description="More CQL, joined to the search with AND, e.g. `space in (DEV, OPS)`.",
    )


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    account_id: str | None = Field(
        None, min_length=1, description="The account to sync; without it, every account (one job each)."
    )
    page_size: int = Field(25, ge=1, le=100, description="Pages and blog posts per request.")


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType(
            "confluence.sync",
            "enttok_confluence.sync:sync",
            SyncPayload,
            description="Sync the pages and blog posts a Confluence account created or edited (or every account's).",
            max_attempts=5,
            timeout=900,
            concurrency=2,
        )
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    # Switched off and on through the host settings: {"host": {"schedules": {"confluence.sync": false}}}.
    return [Schedule("sync", "confluence.sync", {}, interval=SYNC_EVERY_MINUTES * 60)]


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return ConfluenceAccount


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return ConfluenceSettings


@hookimpl
async def enttok_check_account(host: PluginHost, account: Account) -> dict[str, Any]:
    """Who the credentials sign in as (the current user), on which kind of site."""
    import asyncio

    from enttok_confluence.client import check_account

    return await asyncio.to_thread(check_account, account)


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE confluence_contents (
                account_id TEXT NOT NULL,
                content_id TEXT NOT NULL,
                type TEXT NOT NULL,
                title TEXT NOT NULL,
                space_key TEXT,
                space_name TEXT,
                version INTEGER NOT NULL,
                author TEXT,
                author_id TEXT,
                created_by TEXT,
                created_at TEXT,
                modified_at TEXT NOT NULL,
                url TEXT,
                excerpt TEXT,
                PRIMARY KEY (account_id, content_id)
            );
            CREATE INDEX confluence_contents_modified ON confluence_contents (account_id, modified_at);
            """,
            "the pages and blog posts the person created or edited",
        )
    ]
