"""What the Jira tests do with the host: add an account, sync it, read what it stored."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from fake_jira import FakeJira

from enttok.testing import RunningHost

ACCOUNTS = "/plugins/jira/accounts"


def add_account(host: RunningHost, fake: FakeJira, account_id: str, **settings: Any) -> dict[str, Any]:
    """A new account on the fake (settings overridden by `settings`); its settings."""
    chosen = {**fake.account_settings(), **settings}
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": chosen})
    assert response.status_code == 201, response.text
    return chosen


def payload(account_id: str, page_size: int = 100) -> dict[str, Any]:
    return {"account_id": account_id, "page_size": page_size}


def sync(host: RunningHost, account_id: str, page_size: int = 100) -> dict[str, Any]:
    """Run one sync to its end; the job (the test fails unless it succeeded)."""
    job = host.run("jira.sync", payload(account_id, page_size))
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def timeline(host: RunningHost, account_id: str) -> list[dict[str, Any]]:
    response = host.get(
        "/activity/events", params={"source": "jira", "account_id": account_id, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def stored_issues(host: RunningHost, account_id: str) -> list[tuple[str, str, str]]:
    """(issue id, key, updated) of every row stored for the account: a duplicate would show."""
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        query = "SELECT issue_id, issue_key, updated_at FROM jira_issues WHERE account_id = ?"
        return [tuple(row) for row in db.execute(query, (account_id,))]


def search_path(fake: FakeJira) -> str:
    return "/rest/api/3/search/jql" if fake.cloud else "/rest/api/2/search"
