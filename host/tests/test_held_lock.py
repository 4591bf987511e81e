"""What else the host writes while another connection holds the database's write lock (as in
test_faults): an account's routes, a sync's end (the account's last sync, its `needs_reauth`
mark) and a rate limit's announcement. Nothing stalls the other requests, nothing answers
500, and nothing the host acknowledged is lost: a write waits for the lock, and one that
waits too long answers 503 `database_busy` or is tried again with the job it belongs to."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from enttok.testing import FakeUpstream, RunningHost, SuiteFigures
from enttok_demo.fake_api import fake_upstream

SUITE = "faults"
SUPPORT = Path(__file__).parent / "support"
ACCOUNTS = "/plugins/demo/accounts"


@contextlib.contextmanager
def write_lock(host: RunningHost) -> Iterator[None]:
    """Another process's view: a connection of our own holding the database's write lock."""
    connection = sqlite3.connect(host.data_dir / "data" / "index.db", isolation_level=None, timeout=10)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    """Poll (each poll a request to the host or a file read) until `check()` is truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
    raise AssertionError(f"not reached in {timeout}s: {what}")


def is_status(event: dict[str, Any], job_id: str, *statuses: str) -> bool:
    return event["type"] == "job.status" and event["job_id"] == job_id and event["status"] in statuses


def account_settings(upstream: FakeUpstream, token: str | None = None) -> dict[str, Any]:
    return {"base_url": upstream.url, "refresh_token": token or upstream.new_refresh_token()}


def add_account(host: RunningHost, upstream: FakeUpstream, account_id: str, token: str | None = None) -> None:
    body = {"account_id": account_id, "settings": account_settings(upstream, token)}
    response = host.post(ACCOUNTS, json=body)
    assert response.status_code == 201, response.text


def keyring_holds(host: RunningHost, account_id: str) -> bool:
    """Whether the test keyring (a file beside the data dir) has a secret of the account: an
    account is written there first, then to the database."""
    path = host.data_dir.parent / f"{host.data_dir.name}.keyring.json"
    try:
        return f"demo:{account_id}:" in path.read_text()
    except (OSError, json.JSONDecodeError):
        return False


def is_degraded(host: RunningHost) -> bool:
    return host.get("/health").json()["status"] == "degraded"


def test_account_writes_wait_for_a_held_lock_without_stalling_requests(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    upstream, _ = fake_upstream(count=1)
    with upstream, ThreadPoolExecutor(5) as pool:
        host = enttok_host("accounts", plugins=["demo"])
        add_account(host, upstream, "kept")
        add_account(host, upstream, "revoked", token="a-token-the-fake-never-issued")
        before = host.get(f"{ACCOUNTS}/kept").json()

        # A lock released within the write's wait: the account is added, and meanwhile
        # every other request is answered.
        with write_lock(host):
            body = {"account_id": "patient", "settings": account_settings(upstream)}
            waiting = pool.submit(host.post, ACCOUNTS, json=body)
            wait_until(lambda: keyring_holds(host, "patient"), "the account's secret written")
            assert host.get("/health").json()["status"] == "ok"
            listed = [a["account_id"] for a in host.get(ACCOUNTS).json()["accounts"]]
            assert listed == ["kept", "revoked"]
            assert not waiting.done(), "the reads were answered only after the write ended"
        assert waiting.result(timeout=30).status_code == 201, waiting.result().text

        # Held past the wait: every write answers 503 with Retry-After, none a 500, and
        # none of them changed anything.
        with write_lock(host):
            writes = {
                "add": pool.submit(
                    host.post, ACCOUNTS, json={"account_id": "late", "settings": account_settings(upstream)}
                ),
                "change": pool.submit(
                    host.request,
                    "PATCH",
                    f"{ACCOUNTS}/kept",
                    json={"settings": {"base_url": "http://127.0.0.1:9"}},
                ),
                "delete": pool.submit(host.request, "DELETE", f"{ACCOUNTS}/kept"),
                "resync": pool.submit(host.post, f"{ACCOUNTS}/kept/resync"),
                "test": pool.submit(host.post, f"{ACCOUNTS}/revoked/test"),  # marks it needs_reauth
            }
            for what, write in writes.items():
                refused = write.result(timeout=30)
                assert refused.status_code == 503, (what, refused.text)
                assert refused.json()["error"]["code"] == "database_busy", (what, refused.text)
                assert int(refused.headers["Retry-After"]) >= 1, what
            health = host.get("/health").json()
            assert health["status"] == "degraded" and health["fault"]["code"] == "database_busy", health
        wait_until(lambda: host.get("/health").json()["status"] == "ok", "the health clearing")
        accounts = {a["account_id"]: a for a in host.get(ACCOUNTS).json()["accounts"]}
        assert sorted(accounts) == ["kept", "patient", "revoked"]
        assert accounts["kept"] == before
        assert accounts["revoked"]["status"] == "active"

        # The same writes with the lock gone go through.
        tested = host.post(f"{ACCOUNTS}/revoked/test")
        assert tested.status_code == 200 and tested.json()["status"] == "needs_reauth", tested.text
        assert host.post(f"{ACCOUNTS}/kept/resync").status_code == 200
        assert host.request("DELETE", f"{ACCOUNTS}/kept").status_code == 200
    suite_figures.count(
        SUITE, "account writes under a held lock, waited for off the loop or refused with 503"
    )


def test_a_sync_that_ends_under_a_held_lock_keeps_its_last_sync_and_needs_reauth(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    upstream, _ = fake_upstream(count=5)
    with upstream:
        host = enttok_host("last-sync", plugins=["demo"])
        add_account(host, upstream, "acme")
        add_account(host, upstream, "revoked", token="a-token-the-fake-never-issued")
        upstream.fail(400, path="/items")  # acme's first page: the sync fails for good
        parked = [upstream.hold("/oauth/token"), upstream.hold("/oauth/token")]
        failing = host.submit("demo.sync", {"account_id": "acme"})
        refused = host.submit("demo.sync", {"account_id": "revoked"})
        assert all(hold.reached.wait(30) for hold in parked), "the syncs never asked for a token"
        with write_lock(host):
            for hold in parked:
                hold.release()
            # Both end now, and the worker pool cannot write how: it is stalled long
            # enough to say so, and the jobs are still `running`.
            wait_until(lambda: is_degraded(host), "the settlement waiting for the lock", timeout=30)
            assert {host.job(failing)["status"], host.job(refused)["status"]} == {"running"}
        assert host.wait_for_job(failing)["status"] == "failed"
        assert host.wait_for_job(refused)["status"] == "failed"
        (marked,) = [e for e in host.job_events(refused) if e["type"] == "account.status"]
        assert marked["account_id"] == "revoked" and marked["status"] == "needs_reauth"
        acme = host.get(f"{ACCOUNTS}/acme").json()
        assert acme["last_sync"]["job_id"] == failing, acme
        assert acme["last_sync"]["status"] == "failed"
        assert acme["last_sync"]["error"]["code"] == host.job(failing)["error"]["code"]
        revoked = host.get(f"{ACCOUNTS}/revoked").json()
        assert revoked["status"] == "needs_reauth"
        assert revoked["last_sync"]["job_id"] == refused and revoked["last_sync"]["status"] == "failed"
    suite_figures.count(SUITE, "syncs ended under a held lock with their last sync and status kept", 2)


def test_a_rate_limit_met_under_a_held_lock_is_announced_with_the_requeue(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    upstream, _ = fake_upstream(count=5)
    with upstream:
        host = enttok_host("rate-limited", plugins=["demo"])
        add_account(host, upstream, "limited")
        upstream.rate_limit(1.0, path="/items")
        parked = upstream.hold("/oauth/token")
        with host.events() as stream:
            job_id = host.submit("demo.sync", {"account_id": "limited"})
            assert parked.reached.wait(30), "the sync never asked for a token"
            with write_lock(host):
                parked.release()
                wait_until(lambda: is_degraded(host), "the requeue waiting for the lock", timeout=30)
                assert [r.status for r in upstream.requests_to("/items")] == [429]
            announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == job_id, 30)
            queued = stream.wait_for(lambda e: is_status(e, job_id, "queued"), 30)
            assert announced["seq"] < queued["seq"], "announced after the requeue it explains"
            assert announced["credential"] == "limited" and announced["until"] == queued["run_after"]
        assert [e["seq"] for e in host.job_events(job_id) if e["type"] == "ratelimit"] == [announced["seq"]]
        assert host.wait_for_job(job_id)["status"] == "succeeded"
    suite_figures.count(SUITE, "rate limits met under a held lock, announced once with the requeue")


def test_a_fan_out_under_a_held_lock_submits_each_account_once(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    host = enttok_host("fan-out", plugins=[], plugin_modules={"fanner": "fanner"}, pythonpath=[SUPPORT])
    accounts = ["alpha", "beta", "gamma"]
    for account_id in accounts:
        assert host.post("/plugins/fanner/accounts", json={"account_id": account_id}).status_code == 201
    submitted: list[str] = []
    for held_past_the_wait in (False, True):
        gate = tmp_path / f"gate-{held_past_the_wait}"
        fan_out = host.submit("fanner.sync", {"gate": str(gate)})
        wait_until(lambda gate=gate: Path(f"{gate}.reached").exists(), "the fan-out at its gate")
        with write_lock(host):
            Path(f"{gate}.go").touch()
            queued = lambda: host.get("/status").json()["queue_depth"] == len(accounts)  # noqa: E731
            wait_until(queued, "the account jobs waiting for their commit")
            if held_past_the_wait:  # the commit gives up: the fan-out's attempt ends, given back
                wait_until(lambda: is_degraded(host), "the submissions refused", timeout=30)
        job = host.wait_for_job(fan_out)
        assert job["status"] == "succeeded", job
        assert sorted(job["result"]["submitted"]) == accounts
        assert job["attempt"] == 1, "an attempt the database refused was counted"
        requeued = [
            e for e in host.job_events(fan_out) if e["type"] == "job.status" and e["status"] == "queued"
        ]
        assert len(requeued) == (2 if held_past_the_wait else 1), requeued  # submitted, then refused
        if held_past_the_wait:
            assert requeued[1]["error"]["code"] == "database_busy"
        for job_id in job["result"]["submitted"].values():
            assert host.wait_for_job(job_id)["status"] == "succeeded"
        submitted += job["result"]["submitted"].values()
    stored = host.get("/jobs", params={"type": "fanner.sync", "limit": 100}).json()["jobs"]
    per_account = sorted(j["job_id"] for j in stored if j["payload"]["account_id"] is not None)
    assert per_account == sorted(submitted), "an account's job was lost or stored twice"
    assert len(set(submitted)) == 2 * len(accounts)
    suite_figures.count(SUITE, "fan-outs under a held lock, each account's job stored once", 2)
