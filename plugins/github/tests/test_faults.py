"""github.sync when GitHub says no: rate limits (secondary, and search's own), a revoked
token, a token without the scope, and an address that is not the GitHub API.

One host serves the module; each test has its own fake GitHub and accounts of its own, so
rate-limit budgets (one per account) and account states never meet.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fake_github import Bucket, FakeGitHub
from github_host import ACCOUNTS, add_account, stored_items

from enttok.testing import RunningHost, start_host

ITEMS = 250  # three search pages of 100


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("github-faults") / "host", plugins=["github"])
    yield running
    running.close()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    github = FakeGitHub()
    github.add_items(ITEMS)
    with github:
        yield github


def payload(account_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "page_size": 100}


def is_status(job_id: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "job.status" and e["job_id"] == job_id and e["status"] in statuses


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_secondary_limit_requeues_until_retry_after_while_another_account_syncs(
    host: RunningHost, fake: FakeGitHub
) -> None:
    retry_after = 5.0  # time enough for the neighbour's whole sync, on a busy machine too
    limited_token = fake.new_token()
    add_account(host, fake, "limited", token=limited_token)
    add_account(host, fake, "neighbour")
    fake.secondary_limit(limited_token, retry_after)
    with host.events() as stream:
        limited_id = host.submit("github.sync", payload("limited"))
        announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == limited_id)
        stream.wait_for(is_status(limited_id, "queued"))
        waiting = host.job(limited_id)
        neighbour = host.run("github.sync", payload("neighbour"))
        during = host.job(limited_id)
    job = host.wait_for_job(limited_id)

    (refused,) = [r for r in fake.requests_to("/search/issues") if r.status == 403]
    until = epoch(announced["until"])
    assert announced["provider"] == "github.search" and announced["credential"] == "limited"
    assert "403" in announced["message"]  # the kit read the secondary limit: a 403 with Retry-After
    assert abs(until - (refused.at + retry_after)) < 1.0, "the wait is not the Retry-After"
    assert waiting["status"] == "queued" and waiting["attempt"] == 0, "a rate-limited attempt was counted"
    assert waiting["error"]["code"] == "rate_limited"

    assert neighbour["status"] == "succeeded", neighbour["error"]
    assert neighbour["result"]["items"] == ITEMS
    assert during["status"] == "queued", "the limited sync ran before its Retry-After"

    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1 and job["result"]["items"] == ITEMS
    later = [r for r in fake.requests_to("/search/issues") if r.at > refused.at]
    retried = [r for r in later if r.at >= until - 0.05]
    assert len(later) - len(retried) == 3, "besides the neighbour's three pages, a search went out early"
    assert retried, "the limited sync never searched again"


def test_searchs_own_budget_is_kept_without_a_refusal(host: RunningHost, fake: FakeGitHub) -> None:
    fake.search = Bucket("search", limit=2, window=3.0)  # 2 searches per 3 s, against core's 5,000 an hour
    add_account(host, fake, "searcher")
    with host.events() as stream:
        job_id = host.submit("github.sync", payload("searcher"))
        announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == job_id)
    job = host.wait_for_job(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert sorted(stored_items(host, "searcher")) == sorted(str(i.id) for i in fake.items)
    assert announced["provider"] == "github.search"
    searches = fake.requests_to("/search/issues")
    assert [r.status for r in searches] == [200, 200, 200], "a search was sent on a spent budget"
    assert searches[2].at >= epoch(announced["until"]) - 0.05


def test_a_revoked_token_marks_the_account_and_is_not_retried(host: RunningHost, fake: FakeGitHub) -> None:
    token = add_account(host, fake, "revoked")
    fake.revoke(token)
    with host.events() as stream:
        job_id = host.submit("github.sync", payload("revoked"))
        marked = stream.wait_for(lambda e: e["type"] == "account.status" and e["account_id"] == "revoked")
        stream.wait_for(is_status(job_id, "succeeded", "failed", "canceled"))
    job = host.job(job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "auth_failed" and job["error"]["retryable"] is False
    assert "expired or been revoked" in job["error"]["message"]
    assert [(r.path, r.status) for r in fake.requests] == [("/user", 401)], "the refused token was retried"
    assert marked["status"] == "needs_reauth"
    account = host.get(f"{ACCOUNTS}/revoked").json()
    assert account["status"] == "needs_reauth" and "revoked" in account["status_reason"]

    # a new token brings the account back
    patched = host.request("PATCH", f"{ACCOUNTS}/revoked", json={"settings": {"token": fake.new_token()}})
    assert patched.json()["status"] == "active"
    assert host.run("github.sync", payload("revoked"))["status"] == "succeeded"


def test_a_token_without_the_scope_fails_saying_which(host: RunningHost, fake: FakeGitHub) -> None:
    fake.forbidden["/users/"] = "repo"
    add_account(host, fake, "narrow")
    job = host.run("github.sync", payload("narrow"))
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "missing_scope"
    assert "it needs the scope: repo" in job["error"]["message"]
    assert "Resource not accessible by personal access token" in job["error"]["message"]


@pytest.mark.parametrize("kind", ["wrong-path", "html-sign-in-page"])
def test_an_address_that_is_not_the_api_fails_readably(
    host: RunningHost, fake: FakeGitHub, kind: str
) -> None:
    if kind == "wrong-path":
        api_url, code, says = (
            f"{fake.url}/not-the-api",
            "wrong_url",
            "is not the GitHub API (GET /user answered 404)",
        )
    else:
        fake.html_instead = True
        api_url, code, says = fake.url, "not_json", "with an HTML page, not the GitHub API's JSON"
    add_account(host, fake, kind, api_url=api_url)

    job = host.run("github.sync", payload(kind))
    assert job["status"] == "failed" and job["attempt"] == 1, "a wrong address was retried"
    assert job["error"]["code"] == code and says in job["error"]["message"]
    assert "Traceback" not in str(host.job_events(job["job_id"]))

    checked = host.post(f"{ACCOUNTS}/{kind}/test").json()
    assert checked["ok"] is False and checked["error"]["code"] == code
    assert says in checked["error"]["message"]


def test_the_account_test_says_who_it_is_or_why_not(host: RunningHost, fake: FakeGitHub) -> None:
    token = add_account(host, fake, "checked")
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is True and answer["status"] == "active"
    assert answer["details"]["login"] == "octocat"
    assert answer["details"]["scopes"] == ["repo", "read:org"]

    fake.revoke(token)
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is False and answer["status"] == "needs_reauth"
    assert answer["error"]["code"] == "auth_failed"

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    add_account(host, fake, "nowhere", api_url=nowhere)
    answer = host.post(f"{ACCOUNTS}/nowhere/test").json()
    assert answer["ok"] is False and answer["error"]["code"] == "upstream_unreachable"
    assert answer["error"]["message"].startswith(f"could not reach the GitHub API at {nowhere}")
