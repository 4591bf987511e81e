"""`JobContext.activity`: a plugin reads the shared timeline, every source's or one's, within
a time window, as the connectors wrote it."""

from __future__ import annotations

from pathlib import Path

from enttok.testing import RunningHost

SUPPORT = Path(__file__).parent / "support"

ENTRIES = [
    {
        "source": "github",
        "account_id": "me",
        "external_id": "pr-7",
        "event_type": "pr.merged",
        "event_time": "2026-12-03T09:15:00+00:00",
        "title": "Merge the parser",
        "url": "https://example.test/7",
        "actor": "ana",
        "raw": {"number": 7},
    },
    {
        "source": "jira",
        "account_id": "work",
        "external_id": "ENT-1:3",
        "event_type": "issue.resolved",
        "event_time": "2026-12-03T14:00:00+01:00",
        "title": "ENT-1 resolved",
        "description": "Fixed in 1.2",
    },
    {
        "source": "google_calendar",
        "account_id": "a@b.test",
        "external_id": "ev1",
        "event_type": "meeting",
        "event_time": "2026-12-03T23:59:59+00:00",
        "title": "Late call",
    },
    {
        "source": "github",
        "account_id": "me",
        "external_id": "push-1",
        "event_type": "push",
        "event_time": "2026-12-04T00:00:00+00:00",
        "title": "the next day",
    },
    {
        "source": "jira",
        "account_id": "work",
        "external_id": "ENT-0",
        "event_type": "issue.created",
        "event_time": "2026-12-02T23:00:00+00:00",
        "title": "the day before",
    },
]


def _host(enttok_host) -> RunningHost:
    host = enttok_host(
        plugin_modules={"timeline_reader": "timeline_reader"}, plugins=[], pythonpath=[SUPPORT]
    )
    job = host.run("timeline_reader.write", {"entries": ENTRIES})
    assert job["status"] == "succeeded", host.job_events(job["job_id"])
    return host


def _read(host: RunningHost, **payload: str) -> list[dict]:
    job = host.run("timeline_reader.read", payload)
    assert job["status"] == "succeeded", host.job_events(job["job_id"])
    return job["result"]


def test_a_day_of_every_source_oldest_first_as_written(enttok_host) -> None:
    host = _host(enttok_host)
    day = _read(host, start="2026-12-03T00:00:00Z", end="2026-12-04T00:00:00Z")
    assert [entry["external_id"] for entry in day] == ["pr-7", "ENT-1:3", "ev1"]
    merged = day[0]
    assert merged == {
        "account_id": "me",
        "external_id": "pr-7",
        "event_type": "pr.merged",
        "event_time": "2026-12-03T09:15:00Z",
        "title": "Merge the parser",
        "description": None,
        "url": "https://example.test/7",
        "actor": "ana",
        "raw": {"number": 7},
        "source": "github",
    }
    assert day[1]["event_time"] == "2026-12-03T13:00:00Z"  # stored and read back in UTC


def test_one_source_and_a_window_in_another_zone(enttok_host) -> None:
    host = _host(enttok_host)
    jira = _read(host, start="2026-12-03T00:00:00Z", end="2026-12-04T00:00:00Z", source="jira")
    assert [entry["external_id"] for entry in jira] == ["ENT-1:3"]
    # Midnight to midnight in UTC+09:00 is 15:00 the day before to 15:00, in UTC.
    seoul = _read(host, start="2026-12-03T00:00:00+09:00", end="2026-12-04T00:00:00+09:00")
    assert [entry["external_id"] for entry in seoul] == ["ENT-0", "pr-7", "ENT-1:3"]
    assert _read(host, start="2026-12-05T00:00:00Z", end="2026-12-06T00:00:00Z") == []
