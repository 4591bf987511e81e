"""enttok-jira: the Jira issues a person was involved in, their status changes and comments,
synced into the activity timeline, from Jira Cloud or Jira Server/Data Center.

- `jira.sync` `{"account_id": str}`: one account (see `sync.py`); without `account_id`, one
  job per account, which is what the schedule submits every 30 minutes.

This module is what the entry point names, so it stays cheap: pydantic models and
declarations only. atlassian-python-api and requests load in a worker thread on the first
job (`"module:function"` handlers, `client.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from enttok import Account, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost

PLUGIN_API_VERSION = 1
SYNC_EVERY_MINUTES = 30
INVOLVED = (
    "(assignee = currentUser() OR reporter = currentUser() OR watcher = currentUser()"
    " OR assignee WAS currentUser())"
)
"""The issues a person is involved in, when the settings name no JQL of their own."""


class JiraAccount(BaseModel):
    """One Jira sign-in: the site, and either Cloud's email + API token or a Server/Data
    Center personal access token."""

    model_config = ConfigDict(defer_build=True)

    site_url: str = Field(
        description="The Jira site's address: https://YOUR-DOMAIN.atlassian.net, or your Jira server's."
    )
    email: str | None = Field(
        None,
        description="Jira Cloud: the email of your Atlassian account. Leave it empty for Jira Server/Data Center.",
    )
    token: SecretStr = Field(
        description="Jira Cloud: an API token (id.atlassian.com, Security). Server/Data Center: a personal access token."
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
            raise ValueError("must be an email address, or empty for Jira Server/Data Center")
        return value or None

    @property
    def cloud(self) -> bool:
        """Cloud signs in with email + API token; Server/Data Center with a token alone."""
        return self.email is not None


class JiraSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    window_days: int = Field(
        30, ge=1, le=365, description="How far back the first sync of an account goes, in days."
    )
    jql: str | None = Field(
        None,
        description="Which issues to sync, as JQL without ORDER BY (e.g. `project = OPS`); empty for "
        "the issues you are assignee, reporter or watcher of.",
    )

    @field_validator("jql")
    @classmethod
    def _no_order(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if "order by" in " ".join(value.lower().split()):
            raise ValueError("leave out ORDER BY: the sync orders by updated itself")
        return value or None


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    account_id: str | None = Field(
        None, min_length=1, description="The account to sync; without it, every account (one job each)."
    )
    page_size: int = Field(100, ge=1, le=100, description="Issues per request (Jira allows up to 100).")


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType(
            "jira.sync",
            "enttok_jira.sync:sync",
            SyncPayload,
            description="Sync the Jira issues, status changes and comments of an account (or of every account).",
            max_attempts=5,
            timeout=900,
            concurrency=2,
        )
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    # Switched off and on through the host settings: {"host": {"schedules": {"jira.sync": false}}}.
    return [Schedule("sync", "jira.sync", {}, interval=SYNC_EVERY_MINUTES * 60)]


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return JiraAccount


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return JiraSettings


@hookimpl
async def enttok_check_account(host: PluginHost, account: Account) -> dict[str, Any]:
    """Who the account signs in as (`/myself`), in a thread: the SDK is blocking."""

    def check() -> dict[str, Any]:
        from enttok_jira.client import check_account

        return check_account(account)

    return await asyncio.to_thread(check)


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE jira_issues (
                account_id TEXT NOT NULL,
                issue_id TEXT NOT NULL,
                issue_key TEXT NOT NULL,
                project TEXT,
                summary TEXT NOT NULL,
                status TEXT,
                issue_type TEXT,
                assignee TEXT,
                reporter TEXT,
                url TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (account_id, issue_id)
            );
            CREATE INDEX jira_issues_updated ON jira_issues (account_id, updated_at);
            """,
            "the issues synced, by account and Jira's issue id",
        )
    ]
