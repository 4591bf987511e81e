"""What the Confluence tests do with the host: add an account, sync it, read what it stored."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from fake_confluence import FakeConfluence

from enttok.testing import RunningHost

ACCOUNTS = "/plugins/confluence/accounts"


def add_account(
    host: RunningHost,
    fake: FakeConfluence,
    account_id: str,
    *,
    token: str | None = None,
    site_url: str | None = None,
    **settings: Any,
) -> str:
    """A new account on the fake (or at `site_url`); its token."""
    token = token or fake.new_token()
    settings = {"site_url": site_url or fake.url, "token": token, **settings}
    if fake.cloud:
        settings.setdefault("email", fake.email)
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text
    return token


def payload(account_id: str, page_size: int = 25) -> dict[str, Any]:
    return {"account_id": account_id, "page_size": page_size}


def sync(host: RunningHost, account_id: str, page_size: int = 25) -> dict[str, Any]:
    """Run one sync to its end; the job (the test fails unless it succeeded)."""
    job = host.run("confluence.sync", payload(account_id, page_size))
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def timeline(host: RunningHost, account_id: str) -> list[dict[str, Any]]:
    response = host.get(
        "/activity/events", params={"source": "confluence", "account_id": account_id, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def stored(host: RunningHost, account_id: str) -> dict[str, dict[str, Any]]:
    """The rows stored for the account, by content id (the test fails on a duplicate)."""
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        db.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in db.execute("SELECT * FROM confluence_contents WHERE account_id = ?", (account_id,))
        ]
    by_id = {row["content_id"]: row for row in rows}
    assert len(by_id) == len(rows), "a page was stored twice"
    return by_id


def searched_cql(fake: FakeConfluence, since_request: int = 0) -> list[str]:
    """The CQL of each first page of a search (later pages carry a cursor or start)."""
    return [
        r.query["cql"]
        for r in fake.requests_to(fake.search_path)[since_request:]
        if "cursor" not in r.query and "start" not in r.query
    ]
