"""demo.sync against its fake upstream, through enttok.testing only."""

from __future__ import annotations

import sqlite3

from enttok_demo.fake_api import fake_upstream


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
