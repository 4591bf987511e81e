"""`JobContext.requests_session`: a blocking SDK's requests on the host's rate-limit budget,
against a real server on loopback (FakeUpstream) through requests' own transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok.blocking_http import DEFAULT_TIMEOUT, requests_session
from enttok.errors import RateLimited, RetryableError
from enttok.http import sync_client
from enttok.ratelimits import RateLimits
from enttok.testing import FakeUpstream


async def _items(request: Request) -> JSONResponse:
    return JSONResponse({"items": [1, 2, 3]})


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream([Route("/items", _items)], oauth=False) as fake:
        yield fake


def test_a_429_raises_rate_limited_and_closes_the_budget_for_ctx_http(upstream: FakeUpstream) -> None:
    limits = RateLimits()
    session = requests_session(limits.budget("jira", "work"))
    upstream.rate_limit(30, path="/items")
    with pytest.raises(RateLimited) as limited:
        session.get(upstream.url + "/items")
    assert limited.value.retry_after == pytest.approx(30, abs=2)
    assert (limited.value.provider, limited.value.credential) == ("jira", "work")

    # the budget is shared: neither this session nor an httpx client on it sends anything now
    sent = len(upstream.requests)
    with pytest.raises(RateLimited):
        session.get(upstream.url + "/items")
    with sync_client(limits.budget("jira", "work")) as http, pytest.raises(RateLimited):
        http.get(upstream.url + "/items")
    assert len(upstream.requests) == sent
    # another credential's budget is open
    assert requests_session(limits.budget("jira", "home")).get(upstream.url + "/items").ok


def test_a_budget_closed_by_ctx_http_refuses_the_session_before_sending(upstream: FakeUpstream) -> None:
    limits = RateLimits()
    upstream.rate_limit(30, path="/items")
    with sync_client(limits.budget("jira", "work")) as http, pytest.raises(RateLimited):
        http.get(upstream.url + "/items")
    sent = len(upstream.requests)
    with pytest.raises(RateLimited):
        requests_session(limits.budget("jira", "work")).get(upstream.url + "/items")
    assert len(upstream.requests) == sent


def test_5xx_and_dropped_connections_are_retried_then_refused(upstream: FakeUpstream) -> None:
    session = requests_session(RateLimits().budget("jira", "work"), retries=2)
    upstream.fail(503, times=1, path="/items")
    upstream.drop_connection(times=1, path="/items")
    assert session.get(upstream.url + "/items").json() == {"items": [1, 2, 3]}
    assert [r.fault for r in upstream.requests_to("/items")][-1] is None

    upstream.fail(503, times=3, path="/items")
    with pytest.raises(RetryableError) as refused:
        session.get(upstream.url + "/items")
    assert refused.value.code == "upstream_unavailable"


def test_default_timeout_and_options(upstream: FakeUpstream) -> None:
    session = requests_session(
        RateLimits().budget("jira", "work"), timeout=0.5, retries=0, headers={"X-Test": "1"}
    )
    assert session.headers["X-Test"] == "1"
    assert session.trust_env is False
    upstream.slow(3, path="/items")  # answered after 3 s: only the 0.5 s read timeout fails it
    with pytest.raises(RetryableError) as refused:
        session.get(upstream.url + "/items")
    assert refused.value.code == "upstream_unreachable"
    assert isinstance(refused.value.__cause__, requests.ReadTimeout)
    assert DEFAULT_TIMEOUT == (10.0, 30.0)
    with pytest.raises(TypeError):
        requests_session(RateLimits().budget("jira", "work"), retry=1)


def test_requests_is_what_the_session_is() -> None:
    assert isinstance(requests_session(RateLimits().budget("jira", "work")), requests.Session)
