"""demo.sync when the upstream misbehaves: rate limits (a 429, a spent budget shared by the
jobs of one account), refused credentials, and 5xx, dropped, malformed and slow responses.

One host serves the module; every test has its own fake upstream and accounts of its own,
so rate-limit budgets (one per account) and account states never meet.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from enttok.testing import FakeUpstream, RunningHost, SuiteFigures, start_host
from enttok_demo.fake_api import fake_upstream

ACCOUNTS = "/plugins/demo/accounts"
ITEMS = 45
PAGE = 10
PAGES = 5  # requests to /items in a clean sync of ITEMS items, PAGE at a time
SUITE = "upstream faults"  # the line these tests' figures go to in the run's summary


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("faults") / "host", plugins=["demo"])
    yield running
    running.close()


def add_account(host: RunningHost, upstream: FakeUpstream, account_id: str, token: str | None = None) -> None:
    settings = {"base_url": upstream.url, "refresh_token": token or upstream.new_refresh_token()}
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text


def payload(account_id: str, page_size: int = PAGE) -> dict[str, Any]:
    return {"account_id": account_id, "page_size": page_size}


def is_status(job_id: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "job.status" and e["job_id"] == job_id and e["status"] in statuses


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def stored_rows(host: RunningHost, account_id: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        return db.execute(
            "SELECT item_id, seq, title, author, updated_at FROM demo_items WHERE account_id = ? ORDER BY seq",
            (account_id,),
        ).fetchall()


def activity_count(host: RunningHost, account_id: str) -> int:
    response = host.get(
        "/activity/events", params={"source": "demo", "account_id": account_id, "limit": 1000}
    )
    return len(response.json()["events"])


def test_429_requeues_the_job_until_retry_after_while_other_jobs_run(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    retry_after = 3.0
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        add_account(host, upstream, "limited")
        upstream.rate_limit(retry_after, path="/items")
        with host.events() as stream:
            sync_id = host.submit("demo.sync", payload("limited"))
            announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == sync_id)
            stream.wait_for(is_status(sync_id, "queued"))
            waiting = host.job(sync_id)
            # another job runs, reports progress and ends while the sync waits
            sleep_id = host.submit("demo.sleep", {"seconds": 1.0, "steps": 4})
            stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == sleep_id)
            stream.wait_for(is_status(sleep_id, "succeeded"))
            during = host.job(sync_id)
            items_during = list(upstream.requests_to("/items"))
        job = host.wait_for_job(sync_id)

    (refused,) = [r for r in upstream.requests_to("/items") if r.status == 429]
    until = epoch(announced["until"])
    assert announced["provider"] == "demo" and announced["credential"] == "limited"
    assert abs(until - (refused.at + retry_after)) < 1.0, "the wait is not the Retry-After"
    assert waiting["status"] == "queued"
    assert waiting["run_after"] == announced["until"]
    assert waiting["attempt"] == 0, "a rate-limited attempt was counted"
    assert waiting["error"]["code"] == "rate_limited" and waiting["error"]["retryable"] is True

    assert during["status"] == "queued", "the other job could not run while the sync waited"
    assert items_during == [refused], "a page was requested before the reset"

    assert job["status"] == "succeeded", job["error"]
    assert job["attempt"] == 1
    assert job["result"] == {"synced": ITEMS}
    resumed = [r for r in upstream.requests_to("/items") if r.at > refused.at]
    assert resumed[0].at >= until - 0.05, "a page was requested before Retry-After"
    assert len(stored_rows(host, "limited")) == ITEMS
    assert refused.fault == "rate_limit"
    suite_figures.count(SUITE, "fault kinds injected")
    suite_figures.count(SUITE, "requests faulted: 429")


def test_one_accounts_jobs_share_its_budget_and_other_accounts_do_not(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    upstream, api = fake_upstream(count=ITEMS)
    with upstream:
        add_account(host, upstream, "shared")
        add_account(host, upstream, "neighbour")
        api.budget, api.budget_reset_after = 1, 3.0  # one request left, then none until the reset
        first = host.run("demo.sync", payload("shared", page_size=100))
        assert first["status"] == "succeeded", first["error"]
        assert first["result"] == {"synced": ITEMS}
        sent = len(upstream.requests)

        with host.events() as stream:
            second_id = host.submit("demo.sync", payload("shared", page_size=100))
            refused = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == second_id)
            stream.wait_for(is_status(second_id, "queued"))
            assert len(upstream.requests) == sent, "the second job sent a request on a spent budget"
            assert host.job(second_id)["attempt"] == 0

            api.budget = None  # the upstream would serve again; the host still waits for the reset
            neighbour = host.run("demo.sync", payload("neighbour"))
            assert neighbour["status"] == "succeeded", neighbour["error"]
            assert host.job(second_id)["status"] == "queued", "the reset came before the neighbour ended"
        second = host.wait_for_job(second_id)

    until = epoch(refused["until"])
    assert refused["credential"] == "shared"
    assert second["status"] == "succeeded", second["error"]
    assert second["attempt"] == 1, "a refusal by the budget was counted as an attempt"
    after_refusal = upstream.requests[sent:]
    neighbours = after_refusal[: 1 + PAGES]  # its token refresh and pages, all before the reset
    assert all(r.at < until for r in neighbours)
    assert all(r.at >= until - 0.05 for r in after_refusal[len(neighbours) :]), "sent before the reset"
    assert len(stored_rows(host, "neighbour")) == ITEMS
    suite_figures.count(SUITE, "fault kinds injected")  # a spent budget: no request may go out


def test_refused_credentials_fail_at_once_and_mark_the_account(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        add_account(host, upstream, "revoked", token="refresh-the-fake-never-issued")
        with host.events() as stream:
            job_id = host.submit("demo.sync", payload("revoked"))
            marked = stream.wait_for(lambda e: e["type"] == "account.status" and e["account_id"] == "revoked")
            stream.wait_for(is_status(job_id, *("succeeded", "failed", "canceled")))
        job = host.job(job_id)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "auth_failed" and job["error"]["retryable"] is False
        assert job["attempt"] == 1
        assert [r.status for r in upstream.requests] == [400], "the refused token was retried"
        suite_figures.count(SUITE, "requests faulted: revoked refresh token")
        assert marked["plugin"] == "demo" and marked["status"] == "needs_reauth"
        account = host.get(f"{ACCOUNTS}/revoked").json()
        assert account["status"] == "needs_reauth" and account["status_reason"]

        # signing in again (a new refresh token) makes the account usable again
        fresh = {"refresh_token": upstream.new_refresh_token()}
        patched = host.request("PATCH", f"{ACCOUNTS}/revoked", json={"settings": fresh})
        assert patched.json()["status"] == "active"
        job = host.run("demo.sync", payload("revoked"))
        assert job["status"] == "succeeded", job["error"]
    suite_figures.count(SUITE, "fault kinds injected")


@pytest.fixture(scope="module")
def clean_rows(host: RunningHost) -> list[tuple[Any, ...]]:
    """The rows a sync stores when nothing goes wrong."""
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        add_account(host, upstream, "clean")
        job = host.run("demo.sync", payload("clean"))
        assert job["status"] == "succeeded", job["error"]
        assert len(upstream.requests_to("/items")) == PAGES
    return stored_rows(host, "clean")


FAULTS: dict[str, tuple[Callable[[FakeUpstream], None], int]] = {
    # name: (how to inject it on the next page request, page requests it adds to a clean sync)
    "503": (lambda u: u.fail(503, path="/items"), 1),
    "503-past-inline-retries": (lambda u: u.fail(503, times=4, path="/items"), 4),
    "dropped-connection": (lambda u: u.drop_connection(path="/items"), 1),
    "malformed-json": (lambda u: u.malformed(path="/items"), 1),
    "slow": (lambda u: u.slow(1.0, path="/items"), 0),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_sync_converges_through_upstream_faults(
    host: RunningHost, clean_rows: list[tuple[Any, ...]], fault: str, suite_figures: SuiteFigures
) -> None:
    inject, extra_requests = FAULTS[fault]
    account_id = f"fault-{fault}"
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        add_account(host, upstream, account_id)
        parked = upstream.hold("/items", after=1)
        job_id = host.submit("demo.sync", payload(account_id))
        assert parked.reached.wait(30), "the sync stopped after one page"
        inject(upstream)  # hits the third page, after one page is committed
        parked.release()
        job = host.wait_for_job(job_id, timeout=45)

    assert job["status"] == "succeeded", (job["error"], host.job_events(job_id))
    assert stored_rows(host, account_id) == clean_rows, "the rows differ from a clean run's"
    assert activity_count(host, account_id) == ITEMS
    pages = upstream.requests_to("/items")
    assert len(pages) == PAGES + extra_requests, (
        "the fault was not hit, or the sync refetched pages it had committed"
    )
    if fault == "slow":
        assert pages[2].at - pages[1].at >= 1.0, "the slow answer was not slow"
    faulted = [r for r in pages if r.fault]
    assert len(faulted) == max(extra_requests, 1), [(r.status, r.fault) for r in pages]
    suite_figures.count(SUITE, "fault kinds injected")
    suite_figures.count(SUITE, f"requests faulted: {fault}", len(faulted))
    suite_figures.count(SUITE, "faulty syncs converged to the clean run's rows")
