"""What the GitHub tests do with the host: add an account, sync it, read what it stored."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from fake_github import FakeGitHub

from enttok.testing import RunningHost

ACCOUNTS = "/plugins/github/accounts"


def add_account(
    host: RunningHost,
    fake: FakeGitHub,
    account_id: str,
    *,
    token: str | None = None,
    api_url: str | None = None,
) -> str:
    """A new account on the fake (or at `api_url`); its token."""
    token = token or fake.new_token()
    settings = {"api_url": api_url or fake.url, "token": token}
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text
    return token


def sync(host: RunningHost, account_id: str, page_size: int = 100) -> dict[str, Any]:
    """Run one sync to its end; the job (the test fails unless it succeeded)."""
    job = host.run("github.sync", {"account_id": account_id, "page_size": page_size})
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def timeline(host: RunningHost, account_id: str) -> list[dict[str, Any]]:
    response = host.get(
        "/activity/events", params={"source": "github", "account_id": account_id, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def stored_items(host: RunningHost, account_id: str) -> list[str]:
    """The item ids stored for the account (a list: a duplicate would show)."""
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        rows = db.execute("SELECT item_id FROM github_items WHERE account_id = ?", (account_id,))
        return [row[0] for row in rows]
