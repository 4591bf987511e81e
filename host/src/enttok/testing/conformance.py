"""`ConnectorConformance`: what every connector must get right, as tests it runs with one class.

    class TestConformance(ConnectorConformance):
        plugin = "demo"
        sync_job_type = "demo.sync"
        page_path = "/items"

        def make_upstream(self): ...          # a FakeUpstream serving your API's fake
        def account_settings(self, upstream): ...  # settings for POST /accounts, its secret
                                                   # from upstream.new_refresh_token()
        def sync_payload(self, account_id): ...
        def expected_keys(self, upstream): ...     # the row keys a complete sync stores
        def stored_keys(self, db, account_id): ... # the row keys stored (a list: duplicates show)

The suite checks that the payload schemas are valid, the tables prefixed and migrations
idempotent, cancellation honoured, a 429 with `Retry-After` respected, a token expiring
mid-sync refreshed, a kill in the middle of a sync resumed with no gap and no duplicate, and
that no secret reaches the database, the logs, the events or a response.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from enttok.testing.host import RunningHost
from enttok.testing.upstream import FakeUpstream

ACCOUNT = "conformance"
HOST_TABLES = {
    "jobs",
    "job_events",
    "sync_state",
    "activity_events",
    "settings",
    "schema_migrations",
    "accounts",
}


class ConnectorConformance:
    plugin: ClassVar[str]
    sync_job_type: ClassVar[str]
    page_path: ClassVar[str]
    """The upstream path each page of a sync is fetched from."""
    timeout: ClassVar[float] = 60.0

    # -- what the connector's tests provide

    def make_upstream(self) -> FakeUpstream:
        raise NotImplementedError

    def account_settings(self, upstream: FakeUpstream) -> dict[str, Any]:
        raise NotImplementedError

    def sync_payload(self, account_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def expected_keys(self, upstream: FakeUpstream) -> set[Any]:
        raise NotImplementedError

    def stored_keys(self, db: sqlite3.Connection, account_id: str) -> list[Any]:
        raise NotImplementedError

    # -- fixtures

    @pytest.fixture
    def upstream(self) -> Iterator[FakeUpstream]:
        with self.make_upstream() as upstream:
            yield upstream

    @pytest.fixture
    def start(self, enttok_host: Callable[..., RunningHost]) -> Callable[..., RunningHost]:
        """Start (or, called again, restart) the connector's host on the data dir `name`."""
        return lambda name="conformance": enttok_host(name, plugins=[self.plugin])

    @pytest.fixture
    def host(self, start: Callable[[], RunningHost], upstream: FakeUpstream) -> RunningHost:
        host = start()
        response = host.post(
            f"/plugins/{self.plugin}/accounts",
            json={"account_id": ACCOUNT, "settings": self.account_settings(upstream)},
        )
        assert response.status_code == 201, response.text
        return host

    # -- helpers

    def stored(self, host: RunningHost) -> list[Any]:
        with sqlite3.connect(host.data_dir / "data" / "index.db") as db:
            return self.stored_keys(db, ACCOUNT)

    def assert_complete(self, host: RunningHost, upstream: FakeUpstream) -> None:
        stored = self.stored(host)
        assert len(stored) == len(set(stored)), "a row was stored twice"
        assert set(stored) == self.expected_keys(upstream), "the stored rows differ from the upstream's"

    def submit_sync(self, host: RunningHost) -> str:
        return host.submit(self.sync_job_type, self.sync_payload(ACCOUNT))

    # -- the suite

    def test_declares_valid_job_types(self, host: RunningHost) -> None:
        plugins = {p["name"]: p for p in host.get("/plugins").json()["plugins"]}
        record = plugins[self.plugin]
        assert record["state"] == "loaded", record["error"]
        names = [job_type["name"] for job_type in record["job_types"]]
        assert self.sync_job_type in names
        for job_type in record["job_types"]:
            assert job_type["name"].startswith(f"{self.plugin}.")
            schema = job_type["payload_schema"]
            assert schema.get("type") == "object" and isinstance(schema.get("properties"), dict), schema
        assert record["account_schema"] is not None, "a connector declares an account model"

    def test_tables_prefixed_and_migrations_idempotent(
        self, host: RunningHost, start: Callable[[], RunningHost]
    ) -> None:
        before = _schema(host.data_dir)
        plugin_tables = {name for name in before["tables"] if name not in HOST_TABLES}
        assert all(name.startswith(f"{self.plugin}_") for name in plugin_tables), plugin_tables
        assert host.stop() == 0
        again = start()
        assert _schema(again.data_dir) == before, "restarting applied migrations again"

    def test_full_sync(self, host: RunningHost, upstream: FakeUpstream) -> None:
        job = host.wait_for_job(self.submit_sync(host), timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        self.assert_complete(host, upstream)
        timeline = host.get("/activity/events", params={"source": self.plugin, "account_id": ACCOUNT}).json()
        assert timeline["events"], "a sync adds its activity to the shared timeline"

    def test_cancellation_honoured(self, host: RunningHost, upstream: FakeUpstream) -> None:
        parked = upstream.hold(self.page_path)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync never asked for a page"
        assert host.post(f"/jobs/{job_id}/cancel").status_code == 200
        parked.release()
        assert host.wait_for_job(job_id, timeout=self.timeout)["status"] == "canceled"

    def test_rate_limit_respected(self, host: RunningHost, upstream: FakeUpstream) -> None:
        retry_after = 2.0
        upstream.rate_limit(retry_after, path=self.page_path)
        with host.events() as stream:
            job_id = self.submit_sync(host)
            announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == job_id)
        job = host.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        limited = next(r for r in upstream.requests_to(self.page_path) if r.status == 429)
        resumed = [r for r in upstream.requests_to(self.page_path) if r.at > limited.at]
        assert resumed and resumed[0].at >= limited.at + retry_after - 0.05, (
            "a request went out before Retry-After"
        )
        assert announced["until"] and announced["provider"]
        self.assert_complete(host, upstream)

    def test_expired_token_refreshed_mid_sync(self, host: RunningHost, upstream: FakeUpstream) -> None:
        parked = upstream.hold(self.page_path, after=1)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync stopped after one page"
        refreshes = upstream.refreshes
        upstream.expire_access_tokens()
        parked.release()
        job = host.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        assert upstream.refreshes > refreshes, "the expired token was not refreshed"
        self.assert_complete(host, upstream)

    def test_kill_mid_sync_resumes_without_gap_or_duplicate(
        self, host: RunningHost, upstream: FakeUpstream, start: Callable[[], RunningHost]
    ) -> None:
        parked = upstream.hold(self.page_path, after=2)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync stopped before its third page"
        _wait_for_a_committed_cursor(host, self.plugin, self.timeout)
        host.kill()
        # The parked request is recorded when it is answered, after the release: count it here.
        pages_before = len(upstream.requests_to(self.page_path)) + 1
        parked.release()
        restarted = start()
        job = restarted.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        self.assert_complete(restarted, upstream)
        pages_after = len(upstream.requests_to(self.page_path)) - pages_before
        full_sync_pages = _pages_of_a_full_sync(self, start, upstream)
        assert pages_after < full_sync_pages, "the resumed sync started over instead of at its cursor"

    def test_no_secret_in_database_logs_events_or_responses(
        self, host: RunningHost, upstream: FakeUpstream
    ) -> None:
        job_id = self.submit_sync(host)
        assert host.wait_for_job(job_id, timeout=self.timeout)["status"] == "succeeded"
        assert upstream.issued, "the sync used no token"
        responses = [
            host.get(path).text
            for path in ("/jobs", f"/jobs/{job_id}", f"/jobs/{job_id}/events", "/settings", "/plugins")
        ]
        responses.append(host.get(f"/plugins/{self.plugin}/accounts").text)
        with host.events(since=0) as stream:
            replayed = []
            last = host.job_events(job_id)[-1]["seq"]
            while not replayed or replayed[-1]["seq"] < last:
                replayed.append(stream.next())
        host.stop()
        for secret in upstream.issued:
            assert not _files_containing(secret, host.data_dir), "a secret reached a file under the data dir"
            assert not _files_containing(secret, host.log_dir), "a secret reached a log file"
            assert not any(secret in text for text in responses), "a secret reached a response"
            assert not any(secret in str(event) for event in replayed), "a secret reached an event"


def _schema(data_dir: Path) -> dict[str, Any]:
    with sqlite3.connect(data_dir / "data" / "index.db") as db:
        return {
            "tables": sorted(
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ),
            "migrations": sorted(db.execute("SELECT owner, version FROM schema_migrations").fetchall()),
        }


def _files_containing(needle: str, root: Path) -> list[Path]:
    data = needle.encode()
    return [path for path in root.rglob("*") if path.is_file() and data in path.read_bytes()]


def _wait_for_a_committed_cursor(host: RunningHost, plugin: str, timeout: float) -> None:
    """An async handler's pages commit in the host's writer thread while it fetches the next
    ones: wait until one has, so that the kill tests a resume from a cursor."""
    deadline = time.monotonic() + timeout
    database = f"file:{host.data_dir / 'data' / 'index.db'}?mode=ro"
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(database, uri=True)) as db:
            query = "SELECT count(*) FROM sync_state WHERE connector = ? AND cursor IS NOT NULL"
            if db.execute(query, (plugin,)).fetchone()[0]:
                return
        time.sleep(0.01)  # no event marks a commit: poll the database's state, with a deadline
    raise AssertionError(f"no page of the sync was committed within {timeout:g}s")


def _pages_of_a_full_sync(
    suite: ConnectorConformance, start: Callable[[], RunningHost], upstream: FakeUpstream
) -> int:
    """How many page requests a sync from scratch makes (measured on a fresh account)."""
    host = start("measure")
    settings = suite.account_settings(upstream)
    response = host.post(
        f"/plugins/{suite.plugin}/accounts", json={"account_id": "measure", "settings": settings}
    )
    assert response.status_code == 201, response.text
    before = len(upstream.requests_to(suite.page_path))
    job = host.wait_for_job(
        host.submit(suite.sync_job_type, suite.sync_payload("measure")), timeout=suite.timeout
    )
    assert job["status"] == "succeeded", job["error"]
    host.stop()
    return len(upstream.requests_to(suite.page_path)) - before
