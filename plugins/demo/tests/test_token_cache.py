"""Access tokens cached per account in the host's memory (`enttok.oauth`): the next sync, or
the re-run after a rate limit, uses the token it has instead of spending and rotating the
refresh token; a token the upstream refuses, new credentials and the account test all get
a fresh one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from enttok.testing import FakeUpstream, RunningHost
from enttok_demo.fake_api import ItemsApi, fake_upstream

ACCOUNTS = "/plugins/demo/accounts"
ITEMS = 30


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, ItemsApi]]:
    fake, api = fake_upstream(count=ITEMS)
    with fake:
        yield fake, api


@pytest.fixture
def host(enttok_host: Callable[..., RunningHost], upstream: tuple[FakeUpstream, ItemsApi]) -> RunningHost:
    fake, _ = upstream
    running = enttok_host(plugins=["demo"])
    settings = {"base_url": fake.url, "refresh_token": fake.new_refresh_token()}
    response = running.post(ACCOUNTS, json={"account_id": "acme", "settings": settings})
    assert response.status_code == 201, response.text
    return running


def sync(host: RunningHost) -> dict:
    job = host.run("demo.sync", {"account_id": "acme", "page_size": 10})
    assert job["status"] == "succeeded", (job["error"], host.job_events(job["job_id"]))
    return job


def test_the_next_sync_uses_the_cached_access_token(
    host: RunningHost, upstream: tuple[FakeUpstream, ItemsApi]
) -> None:
    fake, api = upstream
    sync(host)
    api.count += 5
    assert sync(host)["result"] == {"synced": 5}
    assert fake.refreshes == 1, "the second sync spent the refresh token again"


def test_a_rerun_after_a_rate_limit_does_not_refresh(
    host: RunningHost, upstream: tuple[FakeUpstream, ItemsApi]
) -> None:
    fake, _ = upstream
    fake.rate_limit(1.0, path="/items", times=1)
    job = sync(host)
    assert fake.requests_to("/items")[0].status == 429, "the rate limit was not met"
    assert job["attempt"] == 1, "the rate-limited run spent an attempt"
    assert fake.refreshes == 1, "the run after the rate limit refreshed the token again"


def test_a_token_the_upstream_refuses_is_replaced(
    host: RunningHost, upstream: tuple[FakeUpstream, ItemsApi]
) -> None:
    fake, api = upstream
    sync(host)
    fake.expire_access_tokens()  # the cached token is refused from here on
    api.count += 5
    assert sync(host)["result"] == {"synced": 5}
    assert [r.status for r in fake.requests_to("/items")][-2:] == [401, 200]
    assert fake.refreshes == 2
    assert host.get(f"{ACCOUNTS}/acme").json()["status"] == "active"


def test_new_credentials_drop_the_cached_token(
    host: RunningHost, upstream: tuple[FakeUpstream, ItemsApi]
) -> None:
    fake, _ = upstream
    sync(host)
    fake.revoke()  # the user signed in again elsewhere: only the new refresh token works
    patched = host.request(
        "PATCH", f"{ACCOUNTS}/acme", json={"settings": {"refresh_token": fake.new_refresh_token()}}
    )
    assert patched.status_code == 200, patched.text
    sync(host)
    assert [r.status for r in fake.requests_to("/oauth/token")] == [200, 200], (
        "the sync after new credentials did not sign in with them"
    )


def test_the_account_test_signs_in_even_with_a_cached_token(
    host: RunningHost, upstream: tuple[FakeUpstream, ItemsApi]
) -> None:
    fake, _ = upstream
    sync(host)
    fake.revoke()
    answer = host.post(f"{ACCOUNTS}/acme/test").json()
    assert answer["ok"] is False and answer["status"] == "needs_reauth", answer
    assert answer["reason"] == answer["error"]["message"]
    assert fake.refreshes == 2, "the test answered from the cached token without signing in"


def test_a_token_too_short_lived_is_not_cached(enttok_host: Callable[..., RunningHost]) -> None:
    fake, _ = fake_upstream(count=ITEMS, access_token_ttl=60)  # within the minute's margin
    with fake:
        host = enttok_host(plugins=["demo"])
        settings = {"base_url": fake.url, "refresh_token": fake.new_refresh_token()}
        assert host.post(ACCOUNTS, json={"account_id": "acme", "settings": settings}).status_code == 201
        sync(host)
        sync(host)
        assert fake.refreshes == 2
