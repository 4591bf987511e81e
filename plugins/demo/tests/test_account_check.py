"""`POST .../accounts/{id}/test` answers a failed check as an answer: `ok: false` with a
sentence a person understands, never a 500, whatever stands in the way (nothing listening,
an HTML page where the API should be, a server error); refused credentials still make the
account `needs_reauth`."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from enttok.testing import FakeUpstream, RunningHost
from enttok_demo.fake_api import fake_upstream

ACCOUNTS = "/plugins/demo/accounts"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def login_page(request: Request) -> HTMLResponse:
    return HTMLResponse("<html><body><form>Sign in</form></body></html>")


def check(host: RunningHost, account_id: str, base_url: str, token: str = "refresh-x") -> dict[str, Any]:
    settings = {"base_url": base_url, "refresh_token": token}
    created = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert created.status_code == 201, created.text
    response = host.post(f"{ACCOUNTS}/{account_id}/test")
    assert response.status_code == 200, response.text
    assert "Traceback" not in response.text and token not in response.text
    return response.json()


def test_nothing_listening_is_a_readable_answer(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host(plugins=["demo"])
    answer = check(host, "nowhere", f"http://127.0.0.1:{closed_port()}")
    assert answer["ok"] is False and answer["checked"] is True
    assert answer["reason"] == (
        "Could not connect to the service (Connection refused); check the account's address."
    )
    assert answer["error"]["code"] == "unreachable" and answer["error"]["retryable"] is True
    assert answer["status"] == "active", "a connection failure is not the credentials' fault"


def test_an_html_page_is_a_readable_answer(enttok_host: Callable[..., RunningHost]) -> None:
    with FakeUpstream([Route("/oauth/token", login_page, methods=["POST"])], oauth=False) as portal:
        host = enttok_host(plugins=["demo"])
        answer = check(host, "portal", portal.url)
    assert answer["ok"] is False
    assert answer["reason"] == (
        "the token endpoint answered without an access token in JSON (is the account's address right?)"
    )
    assert answer["status"] == "active"


def test_a_server_error_is_a_readable_answer(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream()
    with upstream:
        upstream.fail(502, path="/oauth/token")
        host = enttok_host(plugins=["demo"])
        answer = check(host, "flaky", upstream.url, upstream.new_refresh_token())
    assert answer["ok"] is False and "502" in answer["reason"]
    assert answer["error"]["retryable"] is True and answer["status"] == "active"


def test_refused_credentials_still_need_a_new_sign_in(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream()
    with upstream:
        host = enttok_host(plugins=["demo"])
        answer = check(host, "refused", upstream.url, "refresh-the-fake-never-issued")
        assert answer["ok"] is False and answer["status"] == "needs_reauth"
        assert answer["error"]["code"] == "auth_failed" and answer["reason"] == answer["error"]["message"]
        assert host.get(f"{ACCOUNTS}/refused").json()["status"] == "needs_reauth"

        # signing in again (a new token) and testing makes it active again
        fresh = {"refresh_token": upstream.new_refresh_token()}
        assert host.request("PATCH", f"{ACCOUNTS}/refused", json={"settings": fresh}).status_code == 200
        passed = host.post(f"{ACCOUNTS}/refused/test").json()
        assert passed == {
            "ok": True,
            "reason": None,
            "status": "active",
            "details": {"signed_in": True},
            "error": None,
            "checked": True,
        }
