"""enttok-github: the issues, pull requests and events a person was involved in on GitHub
(github.com or GitHub Enterprise Server), synced into the activity timeline.

- `github.sync` `{"account_id": str}`: one account (see `sync.py`); without `account_id`,
  one job per account, which is what the schedule submits every 15 minutes.

This module is what the entry point names, so it stays cheap: pydantic models and
declarations only. httpx and the sync code load on the first job (`"module:function"`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from enttok import Account, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost

PLUGIN_API_VERSION = 1
DEFAULT_API_URL = "https://api.github.com"
SYNC_EVERY_MINUTES = 15


class GitHubAccount(BaseModel):
    """One GitHub identity: where its API is (github.com or an Enterprise Server) and its token."""

    model_config = ConfigDict(defer_build=True)

    api_url: str = Field(
        DEFAULT_API_URL,
        description="The REST API's address: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.",
    )
    token: SecretStr = Field(
        description="A personal access token (fine-grained, or classic with the `repo` scope for private repositories)."
    )

    @field_validator("api_url")
    @classmethod
    def _http_address(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value


class GitHubSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    window_days: int = Field(
        30, ge=1, le=365, description="How far back the first sync of an account goes, in days."
    )


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    account_id: str | None = Field(
        None, min_length=1, description="The account to sync; without it, every account (one job each)."
    )
    page_size: int = Field(100, ge=1, le=100, description="Results per request (GitHub allows 100).")


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType(
            "github.sync",
            "enttok_github.sync:sync",
            SyncPayload,
            description="Sync the issues, pull requests and events of a GitHub account (or of every account).",
            max_attempts=5,
            timeout=900,
            concurrency=2,
        )
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    # Switched off and on through the host settings: {"host": {"schedules": {"github.sync": false}}}.
    return [Schedule("sync", "github.sync", {}, interval=SYNC_EVERY_MINUTES * 60)]


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return GitHubAccount


@hookimpl
def enttok_settings_model() -> type[BaseModel]:
    return GitHubSettings


@hookimpl
async def enttok_check_account(host: PluginHost, account: Account) -> dict[str, Any]:
    """Who the token belongs to (GET /user), and what it may read."""
    from enttok_github.client import check_account

    return await check_account(account)


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE github_items (
                account_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                repo TEXT NOT NULL,
                number INTEGER NOT NULL,
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                state TEXT NOT NULL,
                author TEXT,
                url TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                closed_at TEXT,
                merged_at TEXT,
                PRIMARY KEY (account_id, item_id)
            );
            CREATE INDEX github_items_updated ON github_items (account_id, updated_at);
            CREATE TABLE github_events (
                account_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                repo TEXT,
                actor TEXT,
                created_at TEXT NOT NULL,
                summary TEXT,
                PRIMARY KEY (account_id, event_id)
            );
            CREATE TABLE github_users (
                account_id TEXT NOT NULL PRIMARY KEY,
                login TEXT NOT NULL,
                name TEXT,
                url TEXT,
                scopes TEXT
            );
            CREATE TABLE github_etags (
                account_id TEXT NOT NULL,
                resource TEXT NOT NULL,
                etag TEXT NOT NULL,
                PRIMARY KEY (account_id, resource)
            );
            """,
            "issues, pull requests, events, the signed-in user and the ETags of conditional requests",
        )
    ]
