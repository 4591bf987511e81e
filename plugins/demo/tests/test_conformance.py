"""The demo connector runs the connector conformance suite, as every connector should."""

from __future__ import annotations

import sqlite3
from typing import Any

from enttok.testing import ConnectorConformance, FakeUpstream
from enttok_demo.fake_api import fake_upstream

ITEMS = 30


class TestDemoConformance(ConnectorConformance):
    plugin = "demo"
    sync_job_type = "demo.sync"
    page_path = "/items"

    def make_upstream(self) -> FakeUpstream:
        upstream, _ = fake_upstream(count=ITEMS)
        return upstream

    def account_settings(self, upstream: FakeUpstream) -> dict[str, Any]:
        return {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()}

    def sync_payload(self, account_id: str) -> dict[str, Any]:
        return {"account_id": account_id, "page_size": 10}

    def expected_keys(self, upstream: FakeUpstream) -> set[Any]:
        return {f"item-{seq}" for seq in range(1, ITEMS + 1)}

    def stored_keys(self, db: sqlite3.Connection, account_id: str) -> list[Any]:
        return [
            row[0] for row in db.execute("SELECT item_id FROM demo_items WHERE account_id = ?", (account_id,))
        ]
