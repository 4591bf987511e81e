"""The conformance suite's own test: each deliberately broken connector
(`support/broken_connectors/`, one defect each) fails the very check meant for its defect,
with a message that names it, and the suite behaves when things go wrong around it: a plugin
the host refused, a sync that never ends, a request still held when a test fails.
`plugins/demo/tests/test_conformance.py` shows a correct connector passing every check."""

from __future__ import annotations

import contextlib
import inspect
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok.testing import FakeUpstream, RunningHost
from enttok.testing.conformance import ConnectorConformance
from enttok.testing.conformance.inspection import read_only
from enttok_demo.fake_api import fake_upstream

SUPPORT = Path(__file__).parent / "support"
ITEMS = 25


class DemoApiSuite(ConnectorConformance):
    """The suite for a connector of the demo API loaded from `broken_connectors` (not collected:
    its checks run only where a test below calls them)."""

    page_path = "/items"

    def make_upstream(self) -> FakeUpstream:
        return fake_upstream(count=ITEMS)[0]

    def account_settings(self, upstream: FakeUpstream) -> dict[str, Any]:
        return {
            "base_url": upstream.url,
            "refresh_token": upstream.new_refresh_token(),
            "client_secret": "client-secret-" + "7f3a9c" * 4,
        }

    def sync_payload(self, account_id: str) -> dict[str, Any]:
        return {"account_id": account_id, "page_size": 10}

    def expected_keys(self, upstream: FakeUpstream) -> set[Any]:
        return {f"item-{seq}" for seq in range(1, ITEMS + 1)}

    def stored_keys(self, db: sqlite3.Connection, account_id: str) -> list[Any]:
        query = f"SELECT item_id FROM {self.plugin}_items WHERE account_id = ?"
        return [row[0] for row in db.execute(query, (account_id,))]


def suite_for(plugin: str, **attributes: Any) -> DemoApiSuite:
    options = {"plugin_modules": {plugin: f"broken_connectors.{plugin}"}, "pythonpath": [SUPPORT]}
    namespace = {"plugin": plugin, "sync_job_type": f"{plugin}.sync", "host_options": options, **attributes}
    return type(f"{plugin}_suite", (DemoApiSuite,), namespace)()


@contextlib.contextmanager
def check_of(
    suite: ConnectorConformance, name: str, enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> Iterator[Callable[[], None]]:
    """One check of `suite`, its fixtures made as pytest would make them, ready to call."""
    check = getattr(suite, name)
    with suite.make_upstream() as upstream:
        start = suite.host_starter(enttok_host)
        fixtures: dict[str, Any] = {"upstream": upstream, "start": start, "tmp_path": tmp_path}
        if "host" in inspect.signature(check).parameters:
            fixtures["host"] = suite.open_host(start, upstream)
        wanted = {name: fixtures[name] for name in inspect.signature(check).parameters}
        yield lambda: check(**wanted)


@pytest.mark.parametrize(
    ("plugin", "check", "defect"),
    [
        (
            "cursor_first",
            "test_crash_after_each_page_commit_loses_no_row",
            "cursor committed before its rows",
        ),
        ("blocking_sleep", "test_host_responsive_during_sync", "a blocking call in an async handler"),
        ("blocking_client", "test_host_responsive_during_sync", "a blocking call in an async handler"),
        ("swallows_auth", "test_revoked_refresh_token_fails_auth", "an auth failure swallowed"),
        ("leaks_secret", "test_no_secret_leaked", "a secret leaked: .*the account's client_secret"),
        (
            "random_ids",
            "test_refetch_adds_no_timeline_entry",
            "timeline entries that duplicate on a re-fetch",
        ),
        ("full_refetch", "test_second_sync_is_incremental", "a sync that is not incremental"),
        ("startup_inserts", "test_restart_changes_nothing", "a plugin that changes its data on every start"),
        ("second_start_fails", "test_restart_changes_nothing", "a plugin that fails on the second start"),
        ("runtime_table", "test_tables_prefixed_even_at_run_time", r"an unprefixed table .*\['fetch_log'\]"),
        ("ignores_cancel", "test_cancellation_honoured", "cancellation ignored"),
        (
            "uncounted_rows",
            "test_last_sync_shown_per_account",
            f"a last sync that does not count its rows: the sync stored {ITEMS} rows yet last_sync.rows is 0",
        ),
        (
            "fans_out_by_hand",
            "test_sync_without_account_skips_accounts_that_must_sign_in_again",
            "a sync without an account synced an account that must sign in again: conformance-stale",
        ),
    ],
)
def test_each_defect_is_caught_by_its_check(
    plugin: str, check: str, defect: str, enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    with (
        check_of(suite_for(plugin), check, enttok_host, tmp_path) as run,
        pytest.raises(AssertionError, match=defect),
    ):
        run()


def test_rows_a_deleted_account_leaves_are_caught(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    """Its rows sit in a table keyed by `owner`, which the kit cannot find by itself."""

    def stored_keys(db: sqlite3.Connection, account_id: str) -> list[Any]:
        query = "SELECT item_id FROM keeps_deleted_rows_owned WHERE owner = ?"
        return [row[0] for row in db.execute(query, (account_id,))]

    suite = suite_for("keeps_deleted_rows", stored_keys=staticmethod(stored_keys))
    with (
        check_of(
            suite, "test_deleting_an_account_removes_its_rows_and_timeline", enttok_host, tmp_path
        ) as run,
        pytest.raises(AssertionError, match=f"rows left by a deleted account: {ITEMS} of its rows remain"),
    ):
        run()


def test_a_sync_without_an_account_that_leaves_accounts_out_is_caught(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    suite = suite_for("syncs_first_account_only")
    check = "test_sync_without_account_covers_every_account"
    with (
        check_of(suite, check, enttok_host, tmp_path) as run,
        pytest.raises(AssertionError, match=r"left accounts out: .*\['conformance', 'conformance-2'\]"),
    ):
        run()


def test_a_sync_whose_payload_names_its_account_otherwise_shows_no_last_sync(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    """The host finds a sync's account by the payload's `account_id`; this one calls it `account`."""

    def sync_payload(account_id: str) -> dict[str, Any]:
        return {"account": account_id, "page_size": 10}

    suite = suite_for("names_account_otherwise", sync_payload=staticmethod(sync_payload))
    with (
        check_of(suite, "test_last_sync_shown_per_account", enttok_host, tmp_path) as run,
        pytest.raises(AssertionError, match=r"no last sync shown: .*name the payload's field account_id"),
    ):
        run()


def test_a_payload_that_requires_an_account_skips_the_sync_of_every_account(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    with (
        check_of(
            suite_for("random_ids"), "test_sync_without_account_covers_every_account", enttok_host, tmp_path
        ) as run,
        pytest.raises(pytest.skip.Exception, match=r"random_ids\.sync requires an account_id"),
    ):
        run()


def test_a_refused_plugin_fails_the_suite_at_once_with_the_hosts_reason(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    """The refused plugin here is also the migration that leaves its transaction: it is
    refused, and rolled back whole."""
    suite = suite_for("commits_in_migration")
    starts: list[str] = []

    def counting_host(name: str = "host", **options: Any) -> RunningHost:
        starts.append(name)
        return enttok_host(name, **options)

    reason = "the host refused plugin commits_in_migration: .*migration 2 tries to end the transaction"
    with suite.make_upstream() as upstream:
        start = suite.host_starter(counting_host)
        with pytest.raises(pytest.fail.Exception, match=reason):
            suite.open_host(start, upstream)
        with pytest.raises(pytest.fail.Exception, match=reason):
            suite.open_host(start, upstream)
    assert starts == ["conformance"], "the second check started a host for a plugin already refused"
    with read_only(tmp_path / "conformance") as db:
        cache = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'commits_in_migration_cache'")
        assert cache.fetchone()[0] == 0, "the refused migration left its table behind"
        recorded = db.execute("SELECT version FROM schema_migrations WHERE owner = 'commits_in_migration'")
        assert [row[0] for row in recorded] == [1], "only the migration before the refused one is kept"


def test_a_sync_that_never_finishes_fails_naming_the_job_and_its_last_status(
    enttok_host: Callable[..., RunningHost], tmp_path: Path
) -> None:
    suite = suite_for("never_finishes", timeout=3.0)
    with check_of(suite, "test_full_sync", enttok_host, tmp_path) as run:
        began = time.monotonic()
        with pytest.raises(
            TimeoutError,
            match=r"job job_\w+ did not become canceled/failed/succeeded within 3s: its last status is running",
        ):
            run()
        assert time.monotonic() - began < 3 * suite.timeout, "the check did not fail within its bound"


# -- FakeUpstream


def test_stop_releases_every_held_request() -> None:
    upstream, _ = fake_upstream(count=3)
    answers: list[int | str] = []
    with upstream:
        parked = upstream.hold("/items")

        def ask() -> None:
            try:
                answers.append(httpx.get(f"{upstream.url}/items", timeout=30, trust_env=False).status_code)
            except httpx.HTTPError as error:
                answers.append(type(error).__name__)

        asker = threading.Thread(target=ask)
        asker.start()
        assert parked.reached.wait(10)
        # the test "fails" here, before its release(): leaving the block stops the upstream
    asker.join(10)
    assert not asker.is_alive(), "stop() left a held request waiting"
    assert answers == [401], "the held request was not let through"


def test_revoke_refuses_one_refresh_token_or_all() -> None:
    with fake_upstream()[0] as upstream:
        first, second, third = (upstream.new_refresh_token() for _ in range(3))

        def refresh(token: str) -> int:
            form = {"grant_type": "refresh_token", "refresh_token": token}
            return httpx.post(f"{upstream.url}/oauth/token", data=form, trust_env=False).status_code

        upstream.revoke(first)
        assert (refresh(first), refresh(second)) == (400, 200)
        upstream.revoke()
        assert refresh(third) == 400


def test_wraps_an_authors_own_app_with_faults_and_the_request_log() -> None:
    """An upstream with an API key header and a token endpoint of its own, served whole."""

    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"token": "own-token"})

    async def tasks(request: Request) -> JSONResponse:
        if request.headers.get("x-api-key") != "key-1":
            return JSONResponse({"message": "bad key"}, status_code=403)
        return JSONResponse({"tasks": [1, 2]})

    app = Starlette(routes=[Route("/auth/token", token, methods=["POST"]), Route("/v2/tasks", tasks)])
    with FakeUpstream(app=app) as upstream:
        assert app.state.upstream is upstream
        upstream.fail(503, path="/v2/tasks")
        with httpx.Client(base_url=upstream.url, headers={"X-Api-Key": "key-1"}, trust_env=False) as http:
            statuses = [http.get("/v2/tasks").status_code for _ in range(2)]
            own_token = http.post("/auth/token").json()
            builtin = http.post("/oauth/token", data={"grant_type": "refresh_token"}).status_code
    assert statuses == [503, 200] and own_token == {"token": "own-token"} and builtin == 404
    assert [(r.path, r.status, r.fault) for r in upstream.requests_to("/v2/tasks")] == [
        ("/v2/tasks", 503, "fail"),
        ("/v2/tasks", 200, None),
    ]


def test_routes_without_the_builtin_token_endpoint() -> None:
    async def ping(request: Request) -> JSONResponse:
        return JSONResponse({"pong": True})

    with FakeUpstream([Route("/ping", ping)], oauth=False) as upstream:
        assert httpx.post(f"{upstream.url}/oauth/token", trust_env=False).status_code == 404
        assert httpx.get(f"{upstream.url}/ping", trust_env=False).json() == {"pong": True}
    with pytest.raises(ValueError, match="routes or an app"):
        FakeUpstream([Route("/ping", ping)], app=Starlette())
