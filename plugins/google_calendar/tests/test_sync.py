"""`google_calendar.sync` against the fake Google: what a first sync stores, incremental
syncs with sync tokens, a 410, paging, recurrences, time zones, token expiry and revocation,
and the routes that read the local tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_google import FakeGoogle
from google_host import PREFIX, add_account, open_host, stored_events, sync, timeline

ADA = "ada@example.com"
TEAM = "team@group.calendar.google.com"
HOLIDAYS = "holidays@group.v.calendar.google.com"
EVENTS = "/calendar/v3/calendars/"


def a_week_of_meetings(fake: FakeGoogle) -> datetime:
    """Past and future meetings on Ada's and the team's calendars; the holidays calendar is
    not selected. Returns the moment the past ones are arranged around."""
    fake.add_calendar(TEAM, "Team", time_zone="America/New_York")
    fake.add_calendar(HOLIDAYS, "Holidays", selected=False)
    day = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    fake.meeting(ADA, "standup", day, 15, recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    fake.meeting(ADA, "declined", day + timedelta(hours=2), response="declined")
    fake.meeting(
        ADA,
        "planning",
        day + timedelta(hours=3),
        60,
        response=None,
        hangoutLink="https://meet.google.com/abc-defg-hij",
    )
    fake.meeting(
        ADA,
        "zoom",
        day + timedelta(hours=5),
        conferenceData={
            "entryPoints": [
                {"entryPointType": "phone", "uri": "tel:+1-555"},
                {"entryPointType": "video", "uri": "https://zoom.example/j/1"},
            ]
        },
    )
    fake.put_event(
        ADA,
        {
            "id": "berlin",
            "summary": "Lunch in Berlin time",
            "start": {"dateTime": day.strftime("%Y-%m-%dT13:00:00+01:00"), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": day.strftime("%Y-%m-%dT14:00:00+01:00"), "timeZone": "Europe/Berlin"},
            "organizer": {"email": ADA, "self": True},
        },
    )
    fake.put_event(
        ADA,
        {
            "id": "offsite",
            "summary": "Offsite",
            "start": {"date": day.strftime("%Y-%m-%d")},
            "end": {"date": (day + timedelta(days=2)).strftime("%Y-%m-%d")},
        },
    )
    fake.meeting(ADA, "future", datetime.now(UTC) + timedelta(days=2))
    fake.meeting(TEAM, "retro", day + timedelta(hours=6))
    fake.meeting(HOLIDAYS, "holiday", day)
    return day


def test_first_sync_pages_expands_and_keeps_times_right(enttok_host) -> None:
    with FakeGoogle() as fake:
        day = a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host, page_size=2)

        events = stored_events(host)
        assert set(events) == fake.expected_keys()
        assert not any(calendar == HOLIDAYS for calendar, _ in events), "an unselected calendar was synced"
        pages = [r for r in fake.requests_to(EVENTS + ADA)]
        assert len(pages) >= 5 and all(
            r.query.get("singleEvents") == "true" and "timeMin" in r.query for r in pages
        )
        standups = [e for e in events.values() if e["recurring_event_id"] == "standup"]
        assert len(standups) == 3
        berlin = events[(ADA, "berlin")]
        assert (
            berlin["starts_at"] == day.strftime("%Y-%m-%dT12:00:00Z")
            and berlin["time_zone"] == "Europe/Berlin"
        )
        offsite = events[(ADA, "offsite")]
        assert offsite["all_day"] == 1 and offsite["start_date"] == day.strftime("%Y-%m-%d")
        assert offsite["starts_at"] == (day.replace(hour=0) - timedelta(hours=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ), "midnight in Berlin"
        assert events[(ADA, "planning")]["conference_url"] == "https://meet.google.com/abc-defg-hij"
        assert events[(ADA, "zoom")]["conference_url"] == "https://zoom.example/j/1"
        assert {e["event_id"] for e in events.values() if not e["attended"]} == {"declined", "offsite"}

        entries = timeline(host)
        titles = sorted(e["title"] for e in entries)
        ended = {"Meeting planning", "Meeting zoom", "Meeting retro", "Lunch in Berlin time"}
        assert ended <= set(titles) and "Meeting declined" not in titles and "Meeting future" not in titles
        assert titles.count("Meeting standup") == 3


def test_incremental_sync_uses_the_sync_token(enttok_host) -> None:
    with FakeGoogle() as fake:
        day = a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host, page_size=2)
        before = len(fake.requests_to(EVENTS))

        fake.cancel_event(ADA, "zoom")
        fake.meeting(ADA, "late-addition", day + timedelta(hours=7))
        sync(host, page_size=2)

        again = fake.requests_to(EVENTS)[before:]
        assert again and all("syncToken" in r.query and "timeMin" not in r.query for r in again)
        assert all(r.status == 200 for r in again)
        assert len(again) == 2, "one page per unchanged-or-lightly-changed calendar"
        events = stored_events(host)
        assert (ADA, "zoom") not in events and (ADA, "late-addition") in events
        assert set(events) == fake.expected_keys()


def test_gone_sync_token_resyncs_that_calendar_in_full(enttok_host) -> None:
    with FakeGoogle() as fake:
        a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        fake.expired_sync_tokens.add(TEAM)
        fake.calendars[TEAM].events.clear()  # removed while the token was dead: no cancellation to see
        fake.meeting(TEAM, "new-retro", datetime.now(UTC) - timedelta(hours=1))
        before = len(fake.requests)

        job = sync(host)

        team = [r for r in fake.requests[before:] if r.path.startswith(EVENTS + TEAM)]
        assert [r.status for r in team] == [410, 200] and "timeMin" in team[1].query
        assert set(stored_events(host)) == fake.expected_keys()
        assert any("in full" in e["message"] for e in host.job_events(job["job_id"]) if e.get("message"))


def test_token_expired_mid_sync_is_refreshed(enttok_host) -> None:
    with FakeGoogle() as fake:
        a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        parked = fake.hold(EVENTS, after=1)
        job_id = host.submit("google_calendar.sync", {"account_id": ADA, "page_size": 2})
        assert parked.reached.wait(30)
        refreshes = fake.refreshes
        fake.expire_access_tokens()
        parked.release()
        job = host.wait_for_job(job_id)
        assert job["status"] == "succeeded", job["error"]
        assert fake.refreshes == refreshes + 1
        assert any(r.status == 401 for r in fake.requests_to(EVENTS))
        assert set(stored_events(host)) == fake.expected_keys()


def test_revoked_grant_needs_a_new_sign_in(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        fake.revoke()
        job = host.run("google_calendar.sync", {"account_id": ADA})
        assert job["status"] == "failed" and job["error"]["code"] == "auth_failed"
        assert host.get(f"{PREFIX}/accounts/{ADA}").json()["status"] == "needs_reauth"


def test_usage_limit_requeues_the_sync(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        fake.usage_limited = 1
        with host.events() as stream:
            job_id = host.submit("google_calendar.sync", {"account_id": ADA})
            announced = stream.wait_for(
                lambda e: e["type"] == "ratelimit" and e["job_id"] == job_id, timeout=30
            )
        assert announced["provider"] == "google" and announced["credential"] == ADA
        assert host.job(job_id)["status"] == "queued"


def test_calendars_are_listed_and_chosen(enttok_host) -> None:
    with FakeGoogle() as fake:
        a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        calendars = {c["calendar_id"]: c for c in host.get(f"{PREFIX}/calendars").json()["calendars"]}
        assert {c: calendars[c]["selected"] for c in calendars} == {ADA: True, TEAM: True, HOLIDAYS: False}
        chosen = host.post(
            f"{PREFIX}/calendars/selected",
            json={"account_id": ADA, "calendar_id": HOLIDAYS, "selected": True},
        )
        assert chosen.status_code == 200 and chosen.json()["selected"] is True
        sync(host)
        assert (HOLIDAYS, "holiday") in stored_events(host)
        assert host.get(f"{PREFIX}/calendars").json()["calendars"][0]["selected"] is True, (
            "a sync keeps the choice"
        )

        missing = host.post(
            f"{PREFIX}/calendars/selected", json={"account_id": ADA, "calendar_id": "nope", "selected": True}
        )
        assert missing.status_code == 404
        bad = host.post(
            f"{PREFIX}/calendars/selected", json={"account_id": ADA, "calendar_id": TEAM, "selected": "maybe"}
        )
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "selected"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "yesterday", "end": "2026-01-01"}, "start"),
        ({"start": "2026-01-02", "end": "2026-01-01"}, "end"),
        ({"end": "2026-01-01"}, "start"),
        ({"start": "2026-01-01", "end": "0001-01-01T00:00:00+14:00"}, "end"),
    ],
)
def test_events_range_refuses_bad_input(enttok_host, query, field) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        answer = host.get(f"{PREFIX}/events", params=query)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input" and [d["field"] for d in error["details"]] == [field]


def test_events_in_a_date_range(enttok_host) -> None:
    with FakeGoogle() as fake:
        day = a_week_of_meetings(fake)
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        day_range = {"start": day.strftime("%Y-%m-%d"), "end": (day + timedelta(days=1)).strftime("%Y-%m-%d")}
        answer = host.get(f"{PREFIX}/events", params=day_range)
        assert answer.status_code == 200, answer.text
        ids = {e["event_id"] for e in answer.json()["events"]}
        standup = f"standup_{day:%Y%m%dT%H%M%SZ}"
        assert ids == {"planning", "zoom", "declined", "berlin", "offsite", "retro", standup}

        switched_off = {"account_id": ADA, "calendar_id": TEAM, "selected": False}
        assert host.post(f"{PREFIX}/calendars/selected", json=switched_off).status_code == 200
        answer = host.get(f"{PREFIX}/events", params=day_range)
        assert {e["event_id"] for e in answer.json()["events"]} == ids - {"retro"}
