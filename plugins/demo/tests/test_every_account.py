"""Every account on one schedule: `demo.sync` without an account fans out one job per
account (`ctx.fan_out_accounts`), each retrying and failing on its own; a handler lists the
plugin's accounts with `ctx.accounts()`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from enttok.testing import FakeUpstream, RunningHost
from enttok_demo.fake_api import fake_upstream

ACCOUNTS = "/plugins/demo/accounts"
ITEMS = 30


def add_account(host: RunningHost, upstream: FakeUpstream, account_id: str, token: str | None = None) -> None:
    settings = {"base_url": upstream.url, "refresh_token": token or upstream.new_refresh_token()}
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text


def stored_items(host: RunningHost, account_id: str) -> int:
    with sqlite3.connect(host.data_dir / "data" / "index.db") as db:
        return db.execute("SELECT count(*) FROM demo_items WHERE account_id = ?", (account_id,)).fetchone()[0]


def syncs_of(host: RunningHost, account_id: str) -> list[dict[str, Any]]:
    jobs = host.get("/jobs", params={"type": "demo.sync", "limit": 200}).json()["jobs"]
    return [job for job in jobs if job["payload"].get("account_id") == account_id]


def scheduled_run(host: RunningHost, after: str = "") -> dict[str, Any]:
    """The next run of the schedule (job id above `after`) once it has succeeded."""

    def is_it(event: dict[str, Any]) -> bool:
        if event["type"] != "job.status" or event["status"] != "succeeded" or event["job_id"] <= after:
            return False
        return host.job(event["job_id"])["dedupe_key"] == "schedule:demo.sync"

    with host.events() as stream:
        return host.job(stream.wait_for(is_it, timeout=30)["job_id"])


def test_the_schedule_syncs_every_account_each_in_its_own_job(
    enttok_host: Callable[..., RunningHost],
) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host("every", plugins=["demo"])  # the schedule waits half an hour here
        add_account(host, upstream, "beta")
        add_account(host, upstream, "alpha")
        add_account(host, upstream, "revoked", token="refresh-the-fake-never-issued")
        assert host.stop() == 0
        host = enttok_host("every", plugins=["demo"], env={"ENTTOK_DEMO_SYNC_INTERVAL": "0.5"})

        fan_out = scheduled_run(host)
        assert fan_out["payload"] == {"account_id": None, "page_size": 100}
        submitted = fan_out["result"]["submitted"]
        assert list(submitted) == ["alpha", "beta", "revoked"], "not one job per account, in id order"
        jobs = {account_id: host.wait_for_job(job_id) for account_id, job_id in submitted.items()}
        assert jobs["alpha"]["status"] == jobs["beta"]["status"] == "succeeded"
        assert jobs["alpha"]["result"] == jobs["beta"]["result"] == {"synced": ITEMS}
        assert jobs["alpha"]["dedupe_key"] == "demo.sync:alpha"
        assert stored_items(host, "alpha") == stored_items(host, "beta") == ITEMS
        # one account's failure is its own: the others synced, it needs to sign in again
        assert jobs["revoked"]["status"] == "failed"
        assert jobs["revoked"]["error"]["code"] == "auth_failed"
        assert host.get(f"{ACCOUNTS}/revoked").json()["status"] == "needs_reauth"

        # the next runs skip the account that needs to sign in, and go on with the others
        later = scheduled_run(host, after=max(job["job_id"] for job in jobs.values()))
        assert list(later["result"]["submitted"]) == ["alpha", "beta"]
        assert len(syncs_of(host, "revoked")) == 1, "an account needing sign-in was synced again"


def test_a_fan_out_joins_a_sync_of_the_account_still_running(
    enttok_host: Callable[..., RunningHost],
) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host(plugins=["demo"])
        add_account(host, upstream, "acme")
        parked = upstream.hold("/items")
        first = host.run("demo.sync", {"page_size": 10})
        assert first["status"] == "succeeded", first["error"]
        running = first["result"]["submitted"]["acme"]
        assert parked.reached.wait(30), "the account's sync never asked for a page"

        second = host.run("demo.sync", {"page_size": 10})
        assert second["result"] == {"submitted": {"acme": running}}, "a second sync of the account was queued"
        parked.release()
        assert host.wait_for_job(running)["status"] == "succeeded"
        assert [job["job_id"] for job in syncs_of(host, "acme")] == [running]

        # once it has ended, the next fan-out submits a new one
        third = host.run("demo.sync", {"page_size": 10})
        assert third["result"]["submitted"]["acme"] != running


def test_with_no_accounts_a_fan_out_submits_nothing(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host(plugins=["demo"])
    job = host.run("demo.sync", {})
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"submitted": {}}


def test_a_handler_lists_the_plugins_accounts_in_id_order(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream(count=1)
    with upstream:
        host = enttok_host(plugins=["demo"])
        secret = upstream.new_refresh_token()
        add_account(host, upstream, "zulu", token=secret)
        assert (
            host.post(
                ACCOUNTS, json={"account_id": "alpha", "settings": {"base_url": upstream.url}}
            ).status_code
            == 201
        )
        job = host.run("demo.accounts")
        assert job["status"] == "succeeded", job["error"]
        assert job["result"] == [
            {"account_id": "alpha", "status": "active", "has_refresh_token": False},
            {"account_id": "zulu", "status": "active", "has_refresh_token": True},
        ]
        assert secret not in str(host.job_events(job["job_id"]))


def test_a_sync_of_a_missing_account_fails_once_saying_so(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host(plugins=["demo"])
    job = host.run("demo.sync", {"account_id": "nobody"})
    assert job["status"] == "failed" and job["attempt"] == 1, "a missing account was retried"
    assert job["error"] == {
        "code": "account_not_found",
        "message": "demo has no account 'nobody'",
        "retryable": False,
    }
