"""The sign-in, driven as the desktop app and the system browser drive it: start, Google's
authorization page redirecting to the host's callback, the outcome; and what must fail."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
from fake_google import CLIENT_SECRET, FakeGoogle
from google_host import PREFIX, browse, open_host, sign_in, sync


def test_sign_in_creates_the_account_and_syncs(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        started = host.post(f"{PREFIX}/oauth/start", json={"login_hint": fake.email}).json()
        query = parse_qs(urlsplit(started["authorization_url"]).query)
        assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
        assert query["redirect_uri"] == [f"http://127.0.0.1:{host.port}{PREFIX}/oauth/callback"]
        assert host.get(f"{PREFIX}/oauth/status/{started['state']}").json() == {"status": "pending"}

        page = browse(started["authorization_url"])

        assert page.status_code == 200 and "close this tab" in page.text
        assert str(page.url).startswith(f"http://127.0.0.1:{host.port}{PREFIX}/oauth/callback?")
        status = host.get(f"{PREFIX}/oauth/status/{started['state']}").json()
        assert status == {"status": "succeeded", "account_id": fake.email}
        account = host.get(f"{PREFIX}/accounts/{fake.email}").json()
        assert account["status"] == "active" and account["secrets"]["refresh_token"] == {"is_set": True}
        assert all(token not in page.text + str(account) for token in fake.issued)
        sync(host, fake.email)  # the refresh token the callback kept works


def test_replayed_and_wrong_state_are_refused(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        state, page = sign_in(host)
        assert page.status_code == 200
        replay = browse(str(page.url))  # the same callback URL, code and state, again
        assert replay.status_code == 400 and "already used" in replay.text
        forged = browse(f"{host.url}{PREFIX}/oauth/callback?state=not-a-state&code=4/anything")
        assert forged.status_code == 400
        assert host.get(f"{PREFIX}/oauth/status/{state}").json()["status"] == "succeeded"
        assert host.get(f"{PREFIX}/oauth/status/not-a-state").status_code == 404
        assert len(host.get(f"{PREFIX}/accounts").json()["accounts"]) == 1


def test_a_callback_with_another_states_code_fails_the_exchange(enttok_host) -> None:
    """A code issued for one sign-in presented with another's state: PKCE refuses it."""
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        first = host.post(f"{PREFIX}/oauth/start", json={}).json()
        second = host.post(f"{PREFIX}/oauth/start", json={}).json()
        with httpx.Client(timeout=30) as browser:  # stop at Google's redirect
            redirect = browser.get(first["authorization_url"]).headers["location"]
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        page = browse(f"{host.url}{PREFIX}/oauth/callback?state={second['state']}&code={code}")
        assert page.status_code == 400 and "invalid_grant" in page.text
        assert host.get(f"{PREFIX}/oauth/status/{second['state']}").json()["status"] == "failed"
        assert host.get(f"{PREFIX}/accounts").json()["accounts"] == []


def test_refused_consent_is_reported(enttok_host) -> None:
    with FakeGoogle() as fake:
        fake.consent = "deny"
        host = open_host(enttok_host, fake)
        state, page = sign_in(host)
        assert page.status_code == 400 and "access was denied" in page.text
        assert host.get(f"{PREFIX}/oauth/status/{state}").json() == {
            "status": "failed",
            "error": "access was denied",
        }


def test_only_the_callback_goes_without_the_token(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        state, _ = sign_in(host)
        for method, path in (
            ("POST", f"{PREFIX}/oauth/start"),
            ("GET", f"{PREFIX}/oauth/status/{state}"),
            ("GET", f"{PREFIX}/calendars"),
            ("GET", f"{PREFIX}/events?start=2026-01-01&end=2026-01-02"),
            ("POST", f"{PREFIX}/oauth/callback?state={state}"),
        ):
            answer = httpx.request(method, host.url + path)
            assert answer.status_code == 401, (path, answer.status_code)
        foreign = httpx.get(f"{host.url}{PREFIX}/oauth/callback?state=x", headers={"Host": "evil.example"})
        assert foreign.status_code == 403
        cross_site = httpx.get(
            f"{host.url}{PREFIX}/oauth/callback?state=x", headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403


def test_disconnect_revokes_the_grant(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        sign_in(host)
        answer = host.post(f"{PREFIX}/accounts/{fake.email}/disconnect")
        assert answer.status_code == 200, answer.text
        assert len(fake.revoked_tokens) == 1
        account = host.get(f"{PREFIX}/accounts/{fake.email}").json()
        assert account["status"] == "needs_reauth" and account["secrets"]["refresh_token"] == {
            "is_set": False
        }
        assert host.post(f"{PREFIX}/accounts/nobody@example.com/disconnect").status_code == 404
        # signing in again brings the account back
        sign_in(host)
        assert host.get(f"{PREFIX}/accounts/{fake.email}").json()["status"] == "active"


def test_removing_the_account_revokes_its_grant_too(enttok_host) -> None:
    """The kit's DELETE: the account and its data go at once, and the plugin's
    `enttok_account_removed` revokes the grant after the answer."""
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        sign_in(host)
        answer = host.request("DELETE", f"{PREFIX}/accounts/{fake.email}")
        assert answer.status_code == 200 and answer.json()["deleted"] is True, answer.text
        assert host.get(f"{PREFIX}/accounts/{fake.email}").status_code == 404
        deadline = time.monotonic() + 10
        while not fake.revoked_tokens and time.monotonic() < deadline:
            time.sleep(0.02)  # the revocation follows the answer: wait on the fake's state
        assert len(fake.revoked_tokens) == 1, "deleting the account left its grant at Google"


def test_unticked_calendar_access_fails_the_sign_in(enttok_host) -> None:
    with FakeGoogle() as fake:
        fake.consent = "no_calendar"
        host = open_host(enttok_host, fake)
        state, page = sign_in(host)
        assert page.status_code == 400 and "calendar access was not granted" in page.text
        assert host.get(f"{PREFIX}/oauth/status/{state}").json()["status"] == "failed"
        assert host.get(f"{PREFIX}/accounts").json()["accounts"] == []


def test_no_token_or_client_secret_in_files_output_or_answers(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        state, page = sign_in(host)
        sync(host, fake.email)
        answers = [
            page.text,
            *(host.get(path).text for path in ("/settings", "/plugins", "/jobs", f"{PREFIX}/accounts")),
            host.get(f"{PREFIX}/oauth/status/{state}").text,
        ]
        host.stop()
        files = [p for root in (host.data_dir, host.log_dir) for p in root.rglob("*") if p.is_file()]
        secrets = [CLIENT_SECRET, *fake.issued]
        assert len(secrets) >= 3, "the sign-in issued a refresh token and access tokens"
        leaks = [
            where
            for secret in secrets
            for where, text in [
                *(("answer", a) for a in answers),
                ("output", "\n".join(host.stdout_lines)),
                *((str(p), p.read_bytes().decode("latin-1")) for p in files),
            ]
            if secret in text
        ]
        assert not leaks
