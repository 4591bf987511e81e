"""jira.sync when Jira says no: a 429, a revoked token, a missing permission, a site that is
not Jira, an HTML sign-in page, a Server account pointed at Cloud, a truncated answer.

One host serves the module; each test has its own fake Jira and accounts of its own, so
rate-limit budgets (one per account) and account states never meet.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fake_jira import FakeJira
from jira_host import ACCOUNTS, add_account, payload, stored_issues

from enttok.testing import RunningHost, start_host

ISSUES = 250  # three pages of 100
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("jira-faults") / "host", plugins=["jira"])
    yield running
    running.close()


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    jira = FakeJira()
    jira.add_issues(ISSUES)
    with jira:
        yield jira


def is_status(job_id: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "job.status" and e["job_id"] == job_id and e["status"] in statuses


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_a_429_requeues_until_the_reset_while_another_account_syncs(
    host: RunningHost, fake: FakeJira
) -> None:
    retry_after = 5.0  # time enough for the neighbour's whole sync, on a busy machine too
    add_account(host, fake, "limited")
    add_account(host, fake, "neighbour")
    fake.rate_limit(retry_after, path=SEARCH)  # the next search, which is the limited account's
    with host.events() as stream:
        limited_id = host.submit("jira.sync", payload("limited"))
        announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == limited_id)
        stream.wait_for(is_status(limited_id, "queued"))
        waiting = host.job(limited_id)
        neighbour = host.run("jira.sync", payload("neighbour"))
        during = host.job(limited_id)
    job = host.wait_for_job(limited_id)

    (refused,) = [r for r in fake.requests_to(SEARCH) if r.status == 429]
    until = epoch(announced["until"])
    assert announced["provider"] == "jira" and announced["credential"] == "limited"
    assert abs(until - (refused.at + retry_after)) < 1.0, "the wait is not the Retry-After"
    assert waiting["status"] == "queued" and waiting["attempt"] == 0, "a rate-limited attempt was counted"
    assert waiting["error"]["code"] == "rate_limited"

    assert neighbour["status"] == "succeeded", neighbour["error"]
    assert neighbour["result"]["pages"] == 3
    assert during["status"] == "queued", "the limited sync ran before its reset"

    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1 and job["result"]["pages"] == 3
    later = [r for r in fake.requests_to(SEARCH) if r.at > refused.at]
    retried = [r for r in later if r.at >= until - 0.05]
    # no retry of the SDK's own, no sleeping worker: only the neighbour's pages before the reset
    assert len(later) - len(retried) == 3, "besides the neighbour's three pages, a search went out early"
    assert len(retried) == 3
    assert len(stored_issues(host, "limited")) == ISSUES


def test_a_revoked_token_marks_the_account_and_is_not_retried(host: RunningHost, fake: FakeJira) -> None:
    settings = add_account(host, fake, "revoked")
    fake.revoke(settings["token"])
    with host.events() as stream:
        job_id = host.submit("jira.sync", payload("revoked"))
        marked = stream.wait_for(lambda e: e["type"] == "account.status" and e["account_id"] == "revoked")
        stream.wait_for(is_status(job_id, "succeeded", "failed", "canceled"))
    job = host.job(job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "auth_failed" and job["error"]["retryable"] is False
    assert "refused the account's API token (it has expired, been revoked" in job["error"]["message"]
    assert [(r.path, r.status) for r in fake.requests] == [("/rest/api/3/myself", 401)], "retried"
    assert marked["status"] == "needs_reauth"
    assert host.get(f"{ACCOUNTS}/revoked").json()["status"] == "needs_reauth"

    patched = host.request("PATCH", f"{ACCOUNTS}/revoked", json={"settings": {"token": fake.new_token()}})
    assert patched.json()["status"] == "active"
    assert host.run("jira.sync", payload("revoked"))["status"] == "succeeded"


def test_a_missing_permission_fails_saying_so(host: RunningHost, fake: FakeJira) -> None:
    fake.forbidden = True
    add_account(host, fake, "narrow")
    job = host.run("jira.sync", payload("narrow"))
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "missing_permission"
    assert "You do not have the permission to see the specified issue." in job["error"]["message"]
    assert "ask a Jira administrator for the permission" in job["error"]["message"]


@pytest.mark.parametrize("kind", ["wrong-path", "html-sign-in-page", "server-account-on-cloud"])
def test_a_site_that_cannot_be_synced_fails_readably(host: RunningHost, fake: FakeJira, kind: str) -> None:
    settings: dict[str, Any] = {}
    if kind == "wrong-path":
        settings["site_url"] = f"{fake.url}/not-jira"
        code, says = "wrong_url", "is not a Jira site (GET /not-jira/rest/api/3/myself answered 404)"
    elif kind == "html-sign-in-page":
        fake.html_instead = True
        code, says = "not_json", "answered GET /myself with an HTML page, not Jira's JSON"
    else:  # no email: signs in with a bearer token, as on Server, and tries the classic search
        settings["email"] = None
        code, says = "cloud_site", "is Jira Cloud, which has retired the classic search"
    add_account(host, fake, kind, **settings)

    job = host.run("jira.sync", payload(kind))
    assert job["status"] == "failed" and job["attempt"] == 1, "a site that cannot work was retried"
    assert job["error"]["code"] == code and says in job["error"]["message"], job["error"]
    assert "Traceback" not in str(host.job_events(job["job_id"]))
    if kind == "server-account-on-cloud":
        assert [r.status for r in fake.requests_to("/rest/api/2/search")] == [410]
    else:
        checked = host.post(f"{ACCOUNTS}/{kind}/test").json()
        assert checked["ok"] is False and checked["error"]["code"] == code
        assert says in checked["error"]["message"]


def test_a_truncated_answer_is_retried_and_the_sync_completes(host: RunningHost, fake: FakeJira) -> None:
    add_account(host, fake, "truncated")
    fake.malformed(path=SEARCH)
    job_id = host.submit("jira.sync", payload("truncated"))
    job = host.wait_for_job(job_id, timeout=60)
    assert job["status"] == "succeeded" and job["attempt"] == 2, job
    failed = [e for e in host.job_events(job_id) if e["type"] == "job.status" and e.get("error")]
    assert any(
        e["error"]["message"] == "Jira sent an unreadable answer to a page of search results" for e in failed
    )
    assert len(stored_issues(host, "truncated")) == ISSUES


def test_the_account_test_says_who_it_is_or_why_not(host: RunningHost, fake: FakeJira) -> None:
    settings = add_account(host, fake, "checked")
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is True and answer["status"] == "active"
    assert answer["details"] == {
        "display_name": "Me Myself",
        "time_zone": "America/New_York",
        "deployment": "cloud",
    }

    fake.revoke(settings["token"])
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is False and answer["status"] == "needs_reauth"
    assert answer["error"]["code"] == "auth_failed"

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    add_account(host, fake, "nowhere", site_url=nowhere)
    answer = host.post(f"{ACCOUNTS}/nowhere/test").json()
    assert answer["ok"] is False and answer["error"]["code"] == "upstream_unreachable"
    assert answer["error"]["message"] == (
        f"could not reach Jira at {nowhere}: check the account's site_url and the network"
    )


def test_account_settings_are_checked_naming_the_field(host: RunningHost, fake: FakeJira) -> None:
    for settings, field in [
        ({"site_url": "jira.example.com", "token": "t"}, "settings.site_url"),
        ({"site_url": fake.url, "email": "not-an-email", "token": "t"}, "settings.email"),
        ({"site_url": fake.url}, "settings.token"),
    ]:
        response = host.post(ACCOUNTS, json={"account_id": "bad", "settings": settings})
        assert response.status_code == 422 and field in response.text, response.text
