"""confluence.sync when Confluence says no: a 429, a revoked token, a missing permission, an
address that is not Confluence, a sign-in page instead of JSON; and the account test.

One host serves the module; each test has its own fake Confluence and accounts of its own, so
rate-limit budgets (one per account) and account states never meet.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from confluence_host import ACCOUNTS, add_account, payload, stored
from fake_confluence import FakeConfluence

from enttok.testing import RunningHost, start_host

PAGES = 60  # three pages of search results at 25


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("confluence-faults") / "host", plugins=["confluence"])
    yield running
    running.close()


@pytest.fixture
def fake() -> Iterator[FakeConfluence]:
    confluence = FakeConfluence()
    confluence.add_pages(PAGES)
    with confluence:
        yield confluence


def is_status(job_id: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "job.status" and e["job_id"] == job_id and e["status"] in statuses


def test_a_429_requeues_until_the_reset_while_another_account_syncs(
    host: RunningHost, fake: FakeConfluence
) -> None:
    retry_after = 5.0  # time enough for the neighbour's whole sync, on a busy machine too
    add_account(host, fake, "limited")
    add_account(host, fake, "neighbour")
    fake.rate_limit(retry_after, path=fake.search_path)  # the limited sync's first search
    with host.events() as stream:
        limited_id = host.submit("confluence.sync", payload("limited"))
        announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == limited_id)
        stream.wait_for(is_status(limited_id, "queued"))
        waiting = host.job(limited_id)
        neighbour = host.run("confluence.sync", payload("neighbour"))
        during = host.job(limited_id)
    job = host.wait_for_job(limited_id)

    searches = fake.requests_to(fake.search_path)
    (refused,) = [r for r in searches if r.status == 429]
    until = datetime.fromisoformat(announced["until"]).timestamp()
    assert announced["provider"] == "confluence" and announced["credential"] == "limited"
    assert abs(until - (refused.at + retry_after)) < 1.0, "the wait is not the Retry-After"
    assert waiting["status"] == "queued" and waiting["attempt"] == 0, "a rate-limited attempt was counted"
    assert waiting["error"]["code"] == "rate_limited"

    assert neighbour["status"] == "succeeded", neighbour["error"]
    assert neighbour["result"]["contents"] == PAGES
    assert during["status"] == "queued", "the limited sync ran before its reset"

    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1 and job["result"]["contents"] == PAGES
    later = [r for r in searches if r.at > refused.at]
    early = [r for r in later if r.at < until - 0.05]
    # a retry inside the job (the library sleeping through the 429) would be a fourth early search
    assert len(early) == 3, "besides the neighbour's three pages, a search went out before the reset"
    assert len(later) - len(early) == 3, "the limited sync did not search again after the reset"
    assert sorted(stored(host, "limited")) == sorted(stored(host, "neighbour"))


def test_a_revoked_token_marks_the_account_and_is_not_retried(
    host: RunningHost, fake: FakeConfluence
) -> None:
    token = add_account(host, fake, "revoked")
    fake.revoke(token)
    before = len(fake.requests)
    with host.events() as stream:
        job_id = host.submit("confluence.sync", payload("revoked"))
        marked = stream.wait_for(lambda e: e["type"] == "account.status" and e["account_id"] == "revoked")
        stream.wait_for(is_status(job_id, "succeeded", "failed", "canceled"))
    job = host.job(job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "auth_failed" and job["error"]["retryable"] is False
    assert job["error"]["message"].startswith(
        "Confluence Cloud refused the account's email and API token (Client must be authenticated"
    )
    assert [(r.path, r.status) for r in fake.requests[before:]] == [("/wiki/rest/api/user/current", 401)], (
        "the refused token was retried"
    )
    assert marked["status"] == "needs_reauth"
    account = host.get(f"{ACCOUNTS}/revoked").json()
    assert account["status"] == "needs_reauth"

    # a new token brings the account back
    patched = host.request("PATCH", f"{ACCOUNTS}/revoked", json={"settings": {"token": fake.new_token()}})
    assert patched.json()["status"] == "active"
    assert host.run("confluence.sync", payload("revoked"))["status"] == "succeeded"


def test_a_missing_permission_fails_saying_so(host: RunningHost, fake: FakeConfluence) -> None:
    fake.forbidden = "Current user not permitted to use Confluence"
    add_account(host, fake, "narrow")
    job = host.run("confluence.sync", payload("narrow"))
    assert job["status"] == "failed" and job["attempt"] == 1
    assert job["error"]["code"] == "missing_permission"
    assert job["error"]["message"].startswith(
        f"the account may not read the pages and blog posts you created or edited on {fake.url}: "
        "Current user not permitted to use Confluence."
    )


def test_extra_cql_confluence_cannot_parse_fails_naming_the_setting(
    host: RunningHost, fake: FakeConfluence
) -> None:
    add_account(host, fake, "picky")
    response = host.post("/settings", json={"plugins": {"confluence": {"extra_cql": "label ~~ oops"}}})
    assert response.status_code == 200, response.text
    try:
        job = host.run("confluence.sync", payload("picky"))
    finally:
        host.post("/settings", json={"plugins": {"confluence": {"extra_cql": ""}}})
    assert job["status"] == "failed" and job["error"]["code"] == "bad_cql"
    assert "Could not parse cql" in job["error"]["message"]
    assert "Check the extra CQL in the plugin's settings" in job["error"]["message"]


@pytest.mark.parametrize("kind", ["wrong-path", "sign-in-page"])
def test_an_address_that_is_not_confluence_fails_readably(
    host: RunningHost, fake: FakeConfluence, kind: str
) -> None:
    if kind == "wrong-path":
        site, code, says = (
            f"{fake.url}/not-confluence",
            "wrong_url",
            "is not a Confluence site (its REST API answered 404)",
        )
    else:
        fake.sign_in_page = True
        site, code, says = fake.url, "not_json", "with an HTML page, not Confluence's JSON"
    add_account(host, fake, kind, site_url=site)

    job = host.run("confluence.sync", payload(kind))
    assert job["status"] == "failed" and job["attempt"] == 1, "a wrong address was retried"
    assert job["error"]["code"] == code and says in job["error"]["message"]
    assert "Traceback" not in str(host.job_events(job["job_id"]))

    checked = host.post(f"{ACCOUNTS}/{kind}/test").json()
    assert checked["ok"] is False and checked["error"]["code"] == code
    assert says in checked["error"]["message"]


def test_the_account_test_says_who_it_is_or_why_not(host: RunningHost, fake: FakeConfluence) -> None:
    token = add_account(host, fake, "checked")
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is True and answer["status"] == "active"
    assert answer["details"] == {
        "user": "Ada Lovelace",
        "user_id": fake.me.id,
        "site": fake.url,
        "deployment": "Confluence Cloud",
    }

    fake.revoke(token)
    answer = host.post(f"{ACCOUNTS}/checked/test").json()
    assert answer["ok"] is False and answer["status"] == "needs_reauth"
    assert answer["error"]["code"] == "auth_failed"

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    add_account(host, fake, "nowhere", site_url=nowhere)
    answer = host.post(f"{ACCOUNTS}/nowhere/test").json()
    assert answer["ok"] is False and answer["error"]["code"] == "upstream_unreachable"
    assert answer["error"]["message"].startswith(f"could not reach Confluence Cloud at {nowhere}")


def test_an_account_with_a_bad_field_is_refused_naming_it(host: RunningHost) -> None:
    for field, value in (
        ("site_url", "confluence.example.com"),
        ("email", "ada"),
        ("time_zone", "Mars/Olympus"),
    ):
        settings = {"site_url": "https://x.atlassian.net", "token": "t", field: value}
        response = host.post(ACCOUNTS, json={"account_id": f"bad-{field}", "settings": settings})
        assert response.status_code == 422, response.text
        assert f"settings.{field}" in response.text


def test_a_cut_off_answer_and_a_503_are_tried_again_and_lose_nothing(
    host: RunningHost, fake: FakeConfluence
) -> None:
    add_account(host, fake, "flaky")
    fake.fail(503, path=fake.search_path)  # retried by the kit's session, in the attempt
    fake.malformed(path=fake.search_path, times=1)  # then a truncated page: the attempt fails
    job = host.run("confluence.sync", payload("flaky"), timeout=60)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 2, "a truncated page did not fail the attempt"
    statuses = [(r.status, r.fault) for r in fake.requests_to(fake.search_path)]
    assert statuses[:2] == [(503, "fail"), (200, "malformed")]
    assert len(stored(host, "flaky")) == PAGES
    requeued = [
        e for e in host.job_events(job["job_id"]) if e["type"] == "job.status" and e["status"] == "queued"
    ]
    assert requeued, "the failed attempt was not put back in the queue"
