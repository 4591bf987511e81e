"""The plugin's JSON routes read and refuse input as the host's own routes do (`enttok.routes`):
a 4xx in the host's error shape naming the field, and the calls the desktop app makes still
answer. Over real HTTP to the real host, with the fake Google behind it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fake_google import FakeGoogle
from google_host import PREFIX, add_account, open_host, sync

from enttok.testing import RunningHost

START = f"{PREFIX}/oauth/start"
JSON = {"Content-Type": "application/json"}


def refused(answer: httpx.Response, status: int, code: str) -> list[str]:
    """The fields a refusal names, after checking it is the host's error shape."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == code, error
    return [detail["field"] for detail in error["details"] or []]


def test_start_answers_the_desktop_app_and_a_bare_post(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        # The renderer's hostClient.post: `{}` declared JSON (GoogleSignIn.tsx).
        desktop = host.post(START, content=b"{}", headers=JSON)
        # No body at all: `login_hint` is optional. (Declared JSON but empty is not JSON.)
        bare = host.post(START)
        for answer in (desktop, bare):
            assert answer.status_code == 200, answer.text
            assert set(answer.json()) == {"authorization_url", "state", "expires_in"}
        assert refused(host.post(START, content=b"", headers=JSON), 422, "invalid_input") == [""]
        hinted = host.post(START, json={"login_hint": fake.email}).json()
        assert parse_qs(urlsplit(hinted["authorization_url"]).query)["login_hint"] == [fake.email]


def test_start_refuses_a_bad_body_naming_the_field(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        assert refused(host.post(START, json={"login_hint": 5}), 422, "invalid_input") == ["login_hint"]
        too_long = {"login_hint": "a" * 321}
        assert refused(host.post(START, json=too_long), 422, "invalid_input") == ["login_hint"]
        with_nul = {"login_hint": "ada\u0000@example.com"}
        assert refused(host.post(START, json=with_nul), 422, "invalid_input") == ["login_hint"]
        assert refused(host.post(START, json={"hint": "ada"}), 422, "invalid_input") == ["hint"]
        assert refused(host.post(START, json=["ada"]), 422, "invalid_input") == [""]
        form = host.post(START, data={"login_hint": "ada"})
        assert refused(form, 415, "unsupported_media_type") == ["Content-Type"]
        undeclared = host.post(START, content=b'{"login_hint": "ada"}')
        assert refused(undeclared, 415, "unsupported_media_type") == ["Content-Type"]
        assert refused(host.post(START, content=b"{", headers=JSON), 400, "invalid_json") == []


def test_start_without_an_oauth_client_is_a_conflict(enttok_host) -> None:
    host = enttok_host(plugins=["google_calendar"], env={"GOOGLE_CLIENT_ID": "", "GOOGLE_CLIENT_SECRET": ""})
    answer = host.post(START, json={})
    refused(answer, 409, "client_not_configured")
    assert "GOOGLE_CLIENT_SECRET" in answer.json()["error"]["message"]


def test_an_unknown_state_or_account_is_a_404_naming_it(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        assert refused(host.get(f"{PREFIX}/oauth/status/not-a-state"), 404, "not_found") == ["state"]
        unknown = host.post(f"{PREFIX}/accounts/nobody@example.com/disconnect", json={})
        assert refused(unknown, 404, "account_not_found") == ["account_id"]


def test_disconnect_keeps_the_token_while_google_fails_to_revoke(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        disconnect = f"{PREFIX}/accounts/{fake.email}/disconnect"
        fake.fail(503, path="/revoke")
        refused(host.post(disconnect, json={}), 502, "revoke_failed")
        account = host.get(f"{PREFIX}/accounts/{fake.email}").json()
        assert account["status"] == "active" and account["secrets"]["refresh_token"] == {"is_set": True}
        assert fake.revoked_tokens == []
        # Again, as the desktop app sends it (`{}` declared JSON), now that Google answers.
        answer = host.post(disconnect, content=b"{}", headers=JSON)
        assert answer.status_code == 200 and answer.json() == {"account_id": fake.email, "revoked": True}
        assert len(fake.revoked_tokens) == 1


def test_removing_the_account_while_google_fails_to_revoke_still_removes_it(enttok_host) -> None:
    """The revocation after a DELETE is best effort: Google's failure is logged, and the
    account stays deleted (it was committed before the revocation was tried)."""
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        fake.fail(503, path="/revoke")
        answer = host.request("DELETE", f"{PREFIX}/accounts/{fake.email}")
        assert answer.status_code == 200, answer.text
        log = host.log_dir / "enttok.log"
        said = f"enttok_account_removed for {fake.email} failed"
        deadline = time.monotonic() + 10
        while said not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)  # the revocation follows the answer: wait on the host's log
        assert said in log.read_text(), "the failed revocation was not logged"
        assert fake.revoked_tokens == []
        assert host.get(f"{PREFIX}/accounts/{fake.email}").status_code == 404


def test_calendars_refuse_a_bad_query_or_body_naming_the_field(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        listed = host.get(f"{PREFIX}/calendars", params={"account_id": ""})
        assert [c["calendar_id"] for c in listed.json()["calendars"]] == [fake.email], "empty: every account"
        typo = host.get(f"{PREFIX}/calendars", params={"acount_id": fake.email})
        assert refused(typo, 422, "invalid_input") == ["acount_id"]
        twice = host.get(f"{PREFIX}/calendars", params=[("account_id", "a"), ("account_id", "b")])
        refused(twice, 422, "invalid_input")
        assert "account_id" in twice.json()["error"]["message"]

        selected = f"{PREFIX}/calendars/selected"
        assert sorted(refused(host.post(selected, json={}), 422, "invalid_input")) == [
            "account_id",
            "calendar_id",
            "selected",
        ]
        choice: dict[str, Any] = {"account_id": fake.email, "calendar_id": fake.email, "selected": False}
        assert refused(host.post(selected, json={**choice, "colour": "red"}), 422, "invalid_input") == [
            "colour"
        ]
        assert refused(host.post(selected, json={**choice, "calendar_id": ""}), 422, "invalid_input") == [
            "calendar_id"
        ]
        as_text = host.post(selected, content=json.dumps(choice), headers={"Content-Type": "text/plain"})
        assert refused(as_text, 415, "unsupported_media_type") == ["Content-Type"]
        missing = host.post(selected, json={**choice, "calendar_id": "nope"})
        assert refused(missing, 404, "calendar_not_found") == ["calendar_id"]
        assert _selected(host, fake.email) is True, "nothing refused changed the choice"


def test_events_refuse_a_repeated_or_unknown_parameter(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        day = [("start", "2026-01-01"), ("end", "2026-01-02")]
        twice = host.get(f"{PREFIX}/events", params=[*day, ("start", "2025-12-01")])
        refused(twice, 422, "invalid_input")
        assert "start" in twice.json()["error"]["message"]
        typo = host.get(f"{PREFIX}/events", params=[*day, ("calendar", "team")])
        assert refused(typo, 422, "invalid_input") == ["calendar"]
        moment = host.get(
            f"{PREFIX}/events", params={"start": "2026-01-01T09:00:00+02:00", "end": "2026-01-02"}
        )
        assert moment.status_code == 200 and moment.json() == {"events": []}


def _selected(host: RunningHost, calendar_id: str) -> bool:
    calendars = host.get(f"{PREFIX}/calendars").json()["calendars"]
    return next(c["selected"] for c in calendars if c["calendar_id"] == calendar_id)
