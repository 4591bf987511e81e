"""Each account shows its last sync (`last_sync` in the account routes): when it ended, how,
and exactly how many rows and timeline entries its pages committed, across retries and a
crash of the host."""

from __future__ import annotations

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


def last_sync(host: RunningHost, account_id: str) -> dict[str, Any] | None:
    response = host.get(f"{ACCOUNTS}/{account_id}")
    assert response.status_code == 200, response.text
    return response.json()["last_sync"]


def test_a_sync_shows_when_how_and_how_many(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host(plugins=["demo"])
        add_account(host, upstream, "acme")
        add_account(host, upstream, "idle")
        assert last_sync(host, "acme") is None

        job = host.run("demo.sync", {"account_id": "acme", "page_size": 10})
        assert job["status"] == "succeeded", job["error"]
        shown = last_sync(host, "acme")
        assert shown == {
            "job_id": job["job_id"],
            "status": "succeeded",
            "finished_at": shown["finished_at"],
            "items": 2 * ITEMS,
            "rows": ITEMS,
            "activity": ITEMS,
            "error": None,
        }
        assert job["created_at"] <= shown["finished_at"]
        listed = {a["account_id"]: a["last_sync"] for a in host.get(ACCOUNTS).json()["accounts"]}
        assert listed == {"acme": shown, "idle": None}

        # a sync with nothing new says so, and replaces the last one
        again = host.run("demo.sync", {"account_id": "acme", "page_size": 10})
        assert last_sync(host, "acme")["job_id"] == again["job_id"]
        assert last_sync(host, "acme")["items"] == 0


def test_a_failed_sync_shows_its_error(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host(plugins=["demo"])
        add_account(host, upstream, "revoked", token="refresh-the-fake-never-issued")
        job = host.run("demo.sync", {"account_id": "revoked"})
        assert job["status"] == "failed"
        shown = last_sync(host, "revoked")
        assert shown["job_id"] == job["job_id"] and shown["status"] == "failed"
        assert shown["items"] == 0
        assert shown["error"] == job["error"] and shown["error"]["code"] == "auth_failed"


def test_items_are_counted_once_across_a_retry_and_a_crash(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host("counted", plugins=["demo"])
        add_account(host, upstream, "acme")
        upstream.fail(503, path="/items", times=1)  # the first page: a retry from the top
        parked = upstream.hold("/items", after=2)  # then two pages commit before the crash
        job_id = host.submit("demo.sync", {"account_id": "acme", "page_size": 10})
        assert parked.reached.wait(30), "the sync never reached its third page"
        host.kill()
        parked.release()

        restarted = enttok_host("counted", plugins=["demo"])
        job = restarted.wait_for_job(job_id, timeout=60)
        assert job["status"] == "succeeded", (job["error"], restarted.job_events(job_id))
        assert job["attempt"] >= 2
        shown = last_sync(restarted, "acme")
        assert (shown["rows"], shown["activity"]) == (ITEMS, ITEMS), (
            "the committed items were not counted exactly once"
        )


def test_a_deleted_account_takes_its_last_sync_along(enttok_host: Callable[..., RunningHost]) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host(plugins=["demo"])
        add_account(host, upstream, "acme")
        assert host.run("demo.sync", {"account_id": "acme"})["status"] == "succeeded"
        assert host.request("DELETE", f"{ACCOUNTS}/acme").status_code == 200
        add_account(host, upstream, "acme")
        assert last_sync(host, "acme") is None, "a new account of the same name inherited a last sync"
