"""`ConformanceBase`: what the conformance checks stand on: the class attributes and methods a
connector's tests provide, the fixtures (a host with only the plugin, its fake upstream) and
the building blocks the checks, and a connector's own tests, are made of."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from enttok.testing.conformance import inspection
from enttok.testing.host import RunningHost
from enttok.testing.upstream import FakeUpstream

ACCOUNT = "conformance"
"""The account every check syncs (a second one, `conformance-2`, where a check needs two)."""

Start = Callable[..., RunningHost]


class ConformanceBase:
    plugin: ClassVar[str]
    sync_job_type: ClassVar[str]
    page_path: ClassVar[str]
    """The upstream path each page of a sync is fetched from."""
    timeout: ClassVar[float] = 30.0
    """Seconds a sync may take before the check fails, naming the job and its last status."""
    responsiveness_bound: ClassVar[float] = 0.3
    """How long `/health` may take to answer during a sync, in seconds: once (a loaded machine),
    up to three times this; more than once, not at all. Generous for a busy CI box, yet a
    handler that blocks the loop half a second on each of two pages goes over it."""
    host_options: ClassVar[dict[str, Any]] = {}
    """More keyword arguments for `enttok_host`, e.g. `plugin_modules` and `pythonpath` for a
    plugin that is not installed."""

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

    # -- the upstream's sign-in: override these when FakeUpstream wraps an app with its own

    def expire_access_tokens(self, upstream: FakeUpstream) -> None:
        upstream.expire_access_tokens()

    def revoke_refresh_tokens(self, upstream: FakeUpstream) -> None:
        upstream.revoke()

    def token_refreshes(self, upstream: FakeUpstream) -> int:
        return upstream.refreshes

    # -- fixtures

    @pytest.fixture
    def upstream(self) -> Iterator[FakeUpstream]:
        with self.make_upstream() as upstream:
            yield upstream

    @pytest.fixture
    def start(self, enttok_host: Start) -> Start:
        """Start (or, called again, restart) the connector's host on the data dir `name`."""
        return self.host_starter(enttok_host)

    @pytest.fixture
    def host(self, start: Start, upstream: FakeUpstream) -> RunningHost:
        return self.open_host(start, upstream)

    # -- building blocks (the fixtures are made of them; a connector's own tests may use them)

    def host_starter(self, enttok_host: Start) -> Start:
        """`start(name="conformance", check_loaded=True, **options)`: a host with only this
        plugin. It fails the test with the host's reason when the host refused the plugin, and
        every later check of the class at once, without starting a host."""

        def start(name: str = "conformance", *, check_loaded: bool = True, **options: Any) -> RunningHost:
            known = REFUSALS.get(type(self))
            if check_loaded and known:
                pytest.fail(known, pytrace=False)
            options = {**self.host_options, **options}
            options["env"] = {**self.host_options.get("env", {}), **options.get("env", {})}
            host = enttok_host(name, plugins=[self.plugin], **options)
            if check_loaded:
                record = self.plugin_record(host)
                if record is None or record["state"] != "loaded":
                    REFUSALS[type(self)] = refusal(self.plugin, record)
                    pytest.fail(REFUSALS[type(self)], pytrace=False)
            return host

        return start

    def open_host(self, start: Start, upstream: FakeUpstream) -> RunningHost:
        host = start()
        self.add_account(host, upstream)
        return host

    def add_account(self, host: RunningHost, upstream: FakeUpstream, account_id: str = ACCOUNT) -> None:
        settings = self.account_settings(upstream)
        response = host.post(
            f"/plugins/{self.plugin}/accounts", json={"account_id": account_id, "settings": settings}
        )
        assert response.status_code == 201, response.text
        if "_created" not in vars(self):
            self._created: dict[str, dict[str, Any]] = {}
        self._created[account_id] = settings

    def settings_of(self, account_id: str = ACCOUNT) -> dict[str, Any]:
        """The settings `add_account` created the account with."""
        return self._created[account_id]

    def plugin_record(self, host: RunningHost) -> dict[str, Any] | None:
        """The plugin as `GET /plugins` describes it, or None when the host did not find it."""
        plugins = host.get("/plugins").json()["plugins"]
        return next((p for p in plugins if p["name"] == self.plugin), None)

    def stored(self, host: RunningHost, account_id: str = ACCOUNT) -> list[Any]:
        with inspection.read_only(host.data_dir) as db:
            return self.stored_keys(db, account_id)

    def assert_complete(self, host: RunningHost, upstream: FakeUpstream, account_id: str = ACCOUNT) -> None:
        stored = self.stored(host, account_id)
        assert len(stored) == len(set(stored)), "a row was stored twice"
        assert set(stored) == self.expected_keys(upstream), "the stored rows differ from the upstream's"

    def submit_sync(self, host: RunningHost, account_id: str = ACCOUNT) -> str:
        return host.submit(self.sync_job_type, self.sync_payload(account_id))

    def sync(self, host: RunningHost, account_id: str = ACCOUNT) -> dict[str, Any]:
        """Run one sync to its end; the job record (it fails the check unless it succeeded)."""
        job = host.wait_for_job(self.submit_sync(host, account_id), timeout=self.timeout)
        assert job["status"] == "succeeded", f"the sync ended {job['status']}: {job['error']}"
        return job

    def page_requests(self, upstream: FakeUpstream) -> int:
        return len(upstream.requests_to(self.page_path))


REFUSALS: dict[type, str] = {}
"""Suites whose plugin the host refused, with the reason: their later checks fail at once."""


def refusal(plugin: str, record: dict[str, Any] | None) -> str:
    if record is None:
        return f"the host did not find plugin {plugin}: is it installed (its entry point in group enttok)?"
    return f"the host refused plugin {plugin}: {record['error']}"
