"""demo.sync against its fake upstream, through enttok.testing only."""

from __future__ import annotations

import sqlite3

from enttok.testing import FakeUpstream
from enttok_demo.fake_api import ItemsApi, fake_upstream, pages_requested


def test_sync_pages_through_every_item(enttok_host):
    upstream, _ = fake_upstream(count=250)
    with upstream:
        host = enttok_host(plugins=["demo"])
        response = host.post(
            "/plugins/demo/accounts",
            json={
                "account_id": "acme",
                "settings": {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()},
            },
        )
        assert response.status_code == 201, response.text
        job = host.run("demo.sync", {"account_id": "acme"})
        assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
        assert job["result"] == {"synced": 250}
        with sqlite3.connect(host.data_dir / "data" / "index.db") as db:
            assert db.execute("SELECT count(*) FROM demo_items").fetchone()[0] == 250
            assert (
                db.execute(
                    "SELECT cursor FROM sync_state WHERE connector='demo' AND scope='acme'"
                ).fetchone()[0]
                == "250"
            )


def add_account(host, upstream: FakeUpstream, account_id: str) -> None:
    settings = {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()}
    response = host.post("/plugins/demo/accounts", json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text


def timeline(host, account_id: str) -> list[dict]:
    response = host.get(
        "/activity/events", params={"source": "demo", "account_id": account_id, "limit": 1000}
    )
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_incremental_sync_fetches_only_new_items_and_the_timeline_stays_unique(enttok_host):
    items = ItemsApi(30)
    with FakeUpstream(items.routes()) as upstream:
        host = enttok_host(plugins=["demo"])
        add_account(host, upstream, "acme")
        add_account(host, upstream, "other")

        def sync(account_id: str = "acme") -> dict:
            job = host.run("demo.sync", {"account_id": account_id, "page_size": 10})
            assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
            return job

        assert sync()["result"] == {"synced": 30}
        assert pages_requested(upstream) == [0, 10, 20]
        first = timeline(host, "acme")
        assert len(first) == 30

        items.count += 20
        seen = len(pages_requested(upstream))
        assert sync()["result"] == {"synced": 20}
        assert pages_requested(upstream)[seen:] == [30, 40], (
            "the incremental sync did not start at its cursor"
        )

        events = timeline(host, "acme")
        assert len(events) == 50
        assert [e["event_id"] for e in events] == [f"demo:acme:item-{seq}" for seq in range(50, 0, -1)]
        times = [e["event_time"] for e in events]
        assert times == sorted(times, reverse=True), "the timeline is not newest first"
        newest = events[0]
        assert newest["source"] == "demo" and newest["account_id"] == "acme"
        assert newest["event_type"] == "item.updated"
        assert newest["title"] == "Item number 50" and newest["actor"] == "user1"
        assert newest["url"] == f"{upstream.url}/items/item-50"

        # nothing new: no entry added; everything again (a resync): no entry duplicated
        assert sync()["result"] == {"synced": 0}
        assert host.post("/plugins/demo/accounts/acme/resync").status_code == 200
        assert sync()["result"] == {"synced": 50}
        assert [e["event_id"] for e in timeline(host, "acme")] == [e["event_id"] for e in events]

        # the account filter keeps another account's entries out
        sync("other")
        assert len(timeline(host, "acme")) == 50
        assert {e["account_id"] for e in timeline(host, "other")} == {"other"}
        everything = host.get("/activity/events", params={"source": "demo", "limit": 1000}).json()["events"]
        assert len(everything) == 100
