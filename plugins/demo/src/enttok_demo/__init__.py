"""enttok's demo plugin: small job types for the host's tests, its benchmarks and outside
checks, and an example of the plugin API.

- `demo.noop` `{}`: does nothing (queue throughput).
- `demo.sleep` `{"seconds": float, "steps": int}`: sleeps in `steps` steps, reporting
  progress after each, and stops at once when canceled.
- `demo.fail` `{"message": str, "retryable": bool}`: raises, retryable or not.
- `demo.accounts` `{}`: the plugin's accounts as a handler sees them (`ctx.accounts()`):
  ids and statuses, and whether each has its secret, never the secret.
- `demo.sync` `{"account_id": str}`: the reference connector (see `sync.py`): pages through
  the demo API (faked in `fake_api.py`) for an account, into `demo_items` and the timeline.
  Without an `account_id` it submits one `demo.sync` per account, which is what its
  schedule does every `ENTTOK_DEMO_SYNC_INTERVAL` seconds (default 1800).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from enttok import Account, JobContext, JobType, Migration, PermanentError, RetryableError, Schedule, hookimpl
from enttok.plugin_host import PluginHost

PLUGIN_API_VERSION = 1
SYNC_INTERVAL = float(os.environ.get("ENTTOK_DEMO_SYNC_INTERVAL") or 1800)
"""Seconds between scheduled syncs of every account (the environment sets it for tests)."""


class DemoAccount(BaseModel):
    """A demo API account: where the API is, and the OAuth refresh token (a secret)."""

    base_url: str = Field(description="The demo API's base URL.")
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token; rotated on every use.")


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(
        None,
        min_length=1,
        description="The demo account to sync; none for every account, each in a job of its own.",
    )
    page_size: int = Field(100, ge=1, le=100, description="Items per request.")


class SleepPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=3600, description="How long to sleep in all.")
    steps: int = Field(1, ge=1, le=10_000, description="How many steps, with a progress report after each.")


class FailPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field("demo failure", max_length=1000)
    retryable: bool = False


async def noop(ctx: JobContext, payload: BaseModel) -> None:
    return None


async def sleep(ctx: JobContext, payload: SleepPayload) -> dict[str, float]:
    step = payload.seconds / payload.steps
    for done in range(1, payload.steps + 1):
        await ctx.sleep(step)
        ctx.progress(done / payload.steps, f"step {done}/{payload.steps}")
    return {"slept": payload.seconds}


async def accounts(ctx: JobContext, payload: BaseModel) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account.id,
            "status": account.status,
            "has_refresh_token": bool(account.secret("refresh_token")),
        }
        for account in ctx.accounts()
    ]


async def fail(ctx: JobContext, payload: FailPayload) -> None:
    if payload.retryable:
        raise RetryableError(payload.message, code="demo_retryable")
    raise PermanentError(payload.message, code="demo_failure")


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType("demo.noop", noop, description="Does nothing."),
        JobType(
            "demo.sleep",
            sleep,
            SleepPayload,
            description="Sleeps in steps, reporting progress.",
            max_attempts=5,
        ),
        JobType("demo.fail", fail, FailPayload, description="Raises, retryable or not.", max_attempts=3),
        JobType("demo.accounts", accounts, description="Lists the plugin's accounts, without secrets."),
        JobType(
            "demo.sync",
            "enttok_demo.sync:sync",  # imported on the first sync, like a heavy SDK would be
            SyncPayload,
            description="Sync the demo API's items for an account (or for every account).",
            max_attempts=5,
            timeout=300,
            concurrency=2,
        ),
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    # No account in the payload: each run fans out to every account the plugin has then.
    return [Schedule("sync", "demo.sync", {}, interval=SYNC_INTERVAL)]


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return DemoAccount


@hookimpl
async def enttok_check_account(host: PluginHost, account: Account) -> dict[str, Any]:
    """Signing in is the test: a refresh that the demo API accepts (and rotates), forced so
    that a cached access token does not stand in for it."""
    import httpx

    from enttok.oauth import refresh_access_token

    async with httpx.AsyncClient(base_url=account.settings.base_url, timeout=10, trust_env=False) as http:
        await refresh_access_token(http, account, force=True)
    return {"signed_in": True}


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE demo_items (
                account_id TEXT NOT NULL,
                item_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                title TEXT NOT NULL,
                author TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (account_id, item_id)
            );
            """,
            "items synced from the demo API",
        )
    ]
