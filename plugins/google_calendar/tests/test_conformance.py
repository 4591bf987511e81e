"""The Google Calendar connector runs the connector conformance suite against the fake
Google. Its sign-in is Google's own (`FakeGoogle` overrides the token handling the suite
drives), and its endpoints are plugin settings, set on every host the suite starts."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from fake_google import CLIENT_SECRET, FakeGoogle
from google_host import configure

from enttok.testing import ConnectorConformance, FakeUpstream, RunningHost

TEAM = "team@group.calendar.google.com"


class TestGoogleCalendarConformance(ConnectorConformance):
    plugin = "google_calendar"
    sync_job_type = "google_calendar.sync"
    page_path = "/calendar/v3/calendars/"
    host_options = {"env": {"GOOGLE_CLIENT_SECRET": CLIENT_SECRET}}

    def make_upstream(self) -> FakeUpstream:
        fake = FakeGoogle()
        fake.add_calendar(TEAM, "Team")
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=5)
        for n in range(12):
            fake.meeting(fake.email, f"one-on-one-{n:02}", start + timedelta(hours=3 * n))
        fake.meeting(TEAM, "weekly", start, recurrence=["RRULE:FREQ=DAILY;COUNT=4"])
        return fake

    def add_account(self, host: RunningHost, upstream: FakeUpstream, account_id: str = "conformance") -> None:
        assert isinstance(upstream, FakeGoogle)
        configure(host, upstream)  # every host the suite starts: the settings point at the fake
        super().add_account(host, upstream, account_id)

    def account_settings(self, upstream: FakeUpstream) -> dict[str, Any]:
        assert isinstance(upstream, FakeGoogle)
        return {"email": upstream.email, "refresh_token": upstream.new_refresh_token()}

    def sync_payload(self, account_id: str) -> dict[str, Any]:
        return {"account_id": account_id, "page_size": 5}

    def expected_keys(self, upstream: FakeUpstream) -> set[Any]:
        assert isinstance(upstream, FakeGoogle)
        return upstream.expected_keys()

    def stored_keys(self, db: sqlite3.Connection, account_id: str) -> list[Any]:
        query = "SELECT calendar_id, event_id FROM google_calendar_events WHERE account_id = ?"
        return [(row[0], row[1]) for row in db.execute(query, (account_id,))]
