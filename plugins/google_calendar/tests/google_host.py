"""What the Google Calendar tests do with the host: configure it for a fake Google, sign in
as a browser would, sync, and read what it stored."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import httpx
from fake_google import CLIENT_SECRET, FakeGoogle

from enttok.testing import RunningHost

PREFIX = "/plugins/google_calendar"


def open_host(enttok_host: Any, fake: FakeGoogle, name: str = "host") -> RunningHost:
    host = enttok_host(name, plugins=["google_calendar"], env={"GOOGLE_CLIENT_SECRET": CLIENT_SECRET})
    configure(host, fake)
    return host


def configure(host: RunningHost, fake: FakeGoogle) -> None:
    response = host.post("/settings", json={"plugins": {"google_calendar": fake.endpoints()}})
    assert response.status_code == 200, response.text


def browse(url: str) -> httpx.Response:
    """What the system browser does with a URL: follow the redirects, with no token."""
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        return browser.get(url)


def sign_in(host: RunningHost) -> tuple[str, httpx.Response]:
    """Start a sign-in and open its URL as the browser would; the state and the last page."""
    started = host.post(f"{PREFIX}/oauth/start", json={})
    assert started.status_code == 200, started.text
    body = started.json()
    return body["state"], browse(body["authorization_url"])


def add_account(host: RunningHost, fake: FakeGoogle, account_id: str = "ada@example.com") -> str:
    """An account as a finished sign-in leaves it; its refresh token."""
    token = fake.new_refresh_token()
    settings = {"email": account_id, "refresh_token": token}
    response = host.post(f"{PREFIX}/accounts", json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text
    return token


def sync(host: RunningHost, account_id: str = "ada@example.com", page_size: int = 250) -> dict[str, Any]:
    job = host.run("google_calendar.sync", {"account_id": account_id, "page_size": page_size})
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def stored_events(
    host: RunningHost, account_id: str = "ada@example.com"
) -> dict[tuple[str, str], dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM google_calendar_events WHERE account_id = ?", (account_id,))
        return {(row["calendar_id"], row["event_id"]): dict(row) for row in rows}


def timeline(host: RunningHost, account_id: str = "ada@example.com") -> list[dict[str, Any]]:
    response = host.get(
        "/activity/events", params={"source": "google_calendar", "account_id": account_id, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]
