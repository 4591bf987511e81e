"""Plugins against the real host: broken plugins are isolated and reported, migrations run
once, plugin routes are mounted behind the token, schedules fire (or not) and dedupe."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from enttok.testing import RunningHost, start_host

SUPPORT = Path(__file__).parent / "support"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})

BROKEN = {
    "broken_import": ["import failed", "RuntimeError", "frobnicate"],
    "broken_hook": ["KeyError", "broken_hook lost its job table"],
    "wrong_api": ["999", "plugin API version"],
    "unprefixed_job": ["demo.hijack", "unprefixed_job."],
    "bad_migration": ["migration", "stolen", "bad_migration_"],
    "broken_startup": ["startup failed", "RuntimeError", "base URL is not configured"],
}


def read_db(host: RunningHost, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the host's database directly, read-only (a second opinion on what the API says)."""
    path = host.data_dir / "data" / "index.db"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def plugins_by_name(host: RunningHost) -> dict[str, dict[str, Any]]:
    response = host.get("/plugins")
    assert response.status_code == 200, response.text
    return {plugin["name"]: plugin for plugin in response.json()["plugins"]}


# -- broken plugins


@pytest.fixture(scope="module")
def broken_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(
        tmp_path_factory.mktemp("broken"),
        plugins=["demo"],
        plugin_modules={name: name for name in BROKEN},
        pythonpath=[SUPPORT],
    )
    yield running
    running.close()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_plugin_is_listed_failed_with_its_reason(broken_host: RunningHost, name: str) -> None:
    plugin = plugins_by_name(broken_host)[name]
    assert plugin["state"] == "failed"
    assert isinstance(plugin["error"], str)
    for fragment in BROKEN[name]:
        assert fragment in plugin["error"], plugin["error"]
    assert "Traceback" not in plugin["error"]  # one readable line, not a stack

    plugins = broken_host.get("/status").json()["plugins"]
    assert name in plugins["failed"]
    assert name not in plugins["loaded"]


def test_demo_runs_beside_broken_plugins(broken_host: RunningHost) -> None:
    plugins = plugins_by_name(broken_host)
    assert plugins["demo"]["state"] == "loaded"
    assert plugins["demo"]["error"] is None
    assert plugins["maintenance"]["state"] == "loaded"
    assert sorted(broken_host.get("/status").json()["plugins"]["failed"]) == sorted(BROKEN)

    job = broken_host.run("demo.sleep", {"seconds": 0.1, "steps": 2})
    assert job["status"] == "succeeded", job
    assert job["result"] == {"slept": 0.1}


@pytest.mark.parametrize(
    "job_type",
    ["wrong_api.noop", "bad_migration.noop", "unprefixed_job.fine", "demo.hijack", "broken_startup.noop"],
)
def test_failed_plugins_job_types_are_refused(broken_host: RunningHost, job_type: str) -> None:
    response = broken_host.post("/jobs", json={"type": job_type, "payload": {}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unknown_job_type"


def test_a_plugin_whose_startup_failed_answers_503_on_its_routes(broken_host: RunningHost) -> None:
    response = broken_host.get("/plugins/broken_startup/ping")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "plugin_unavailable"
    assert "broken_startup" in error["message"] and "base URL is not configured" in error["message"]
    assert httpx.get(broken_host.url + "/plugins/broken_startup/ping").status_code == 401  # no token
    paths = broken_host.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/plugins/broken_startup")]


def test_bad_migration_is_rolled_back(broken_host: RunningHost) -> None:
    tables = {row[0] for row in read_db(broken_host, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "stolen" not in tables
    assert "bad_migration_ok" not in tables  # the whole step is one transaction
    assert read_db(broken_host, "SELECT * FROM schema_migrations WHERE owner = 'bad_migration'") == []
    assert {"jobs", "job_events", "settings", "schema_migrations"} <= tables


# -- migrations, routes


EXTRAS = {"plugin_modules": {"extras": "extras"}, "pythonpath": [SUPPORT]}


def test_migration_is_applied_once(enttok_host: Callable[..., RunningHost]) -> None:
    first = enttok_host("extras", **EXTRAS)
    assert plugins_by_name(first)["extras"]["state"] == "loaded"
    assert first.get("/plugins/extras/items").json()["items"] == [{"id": 1, "name": "seed"}]
    added = first.post("/plugins/extras/items", json={"name": "kept"})
    assert added.status_code == 201, added.text
    assert first.stop() == 0

    second = enttok_host("extras", **EXTRAS)
    extras = plugins_by_name(second)["extras"]
    assert extras["state"] == "loaded", extras["error"]
    # The seed row is not duplicated and the row added before the restart is still there.
    assert second.get("/plugins/extras/items").json()["items"] == [
        {"id": 1, "name": "seed"},
        {"id": 2, "name": "kept"},
    ]
    assert read_db(second, "SELECT version FROM schema_migrations WHERE owner = 'extras'") == [(1,)]


def test_startup_and_shutdown_hooks_run_with_the_plugins_settings(
    enttok_host: Callable[..., RunningHost],
) -> None:
    host = enttok_host("lifecycle", **EXTRAS)
    trace = host.data_dir / "cache" / "extras" / "lifecycle.log"
    assert trace.read_text().splitlines() == ["startup greeting=hello"]  # before the ready line
    assert host.get("/settings").json()["plugins"]["extras"] == {"greeting": "hello"}
    refused = host.post("/settings", json={"plugins": {"extras": {"greeting": ""}}})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "plugins.extras.greeting"
    assert host.post("/settings", json={"plugins": {"extras": {"greeting": "hi"}}}).status_code == 200
    assert host.stop() == 0
    assert trace.read_text().splitlines() == ["startup greeting=hello", "shutdown"]
    enttok_host("lifecycle", **EXTRAS)
    assert trace.read_text().splitlines()[-1] == "startup greeting=hi"


@pytest.fixture(scope="module")
def extras_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("extras"), plugins=["demo"], **EXTRAS)
    yield running
    running.close()


def test_plugin_routes_are_mounted_under_its_name_and_need_the_token(extras_host: RunningHost) -> None:
    extras = plugins_by_name(extras_host)["extras"]
    assert "/plugins/extras/items" in extras["routes"]

    url = f"{extras_host.url}/plugins/extras/items"
    with httpx.Client(trust_env=False, timeout=10) as anonymous:
        assert anonymous.get(url).status_code == 401
        assert anonymous.get(url, headers={"X-Backend-Token": "x" * 64}).status_code == 401
        refused = anonymous.post(url, json={"name": "intruder"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"

    response = extras_host.get("/plugins/extras/items")
    assert response.status_code == 200, response.text
    assert {"id": 1, "name": "seed"} in response.json()["items"]
    assert all(item["name"] != "intruder" for item in response.json()["items"])
    assert extras_host.get("/items").status_code == 404  # only under /plugins/<name>/
    assert extras_host.get("/plugins/demo/items").status_code == 404


# -- schedules


def test_schedules_fire_dedupe_and_can_be_switched_on(extras_host: RunningHost) -> None:
    status = extras_host.get("/status").json()["scheduler"]
    switches = {job["id"]: job["enabled"] for job in status["jobs"]}
    assert switches["extras.tick"] is True
    assert switches["extras.off"] is False

    ticks: set[str] = set()
    off: set[str] = set()
    slow_live: set[str] = set()
    slow_seen: list[str] = []
    slow_peak = 0
    job_types: dict[str, str] = {}
    with extras_host.events(since=0) as stream:  # from the very first event: nothing is missed
        deadline = time.monotonic() + 15
        while len(ticks) < 3 or len(slow_seen) < 2:
            event = stream.next(max(0.1, deadline - time.monotonic()))
            if event["type"] != "job.status":
                continue
            job_type = event.get("job_type") or job_types.get(event["job_id"])
            if event["status"] == "queued" and event.get("job_type"):
                job_types[event["job_id"]] = job_type
                if job_type == "extras.tick":
                    ticks.add(event["job_id"])
                elif job_type == "extras.off":
                    off.add(event["job_id"])
                elif job_type == "extras.slow":
                    slow_live.add(event["job_id"])
                    slow_seen.append(event["job_id"])
                    slow_peak = max(slow_peak, len(slow_live))
            elif job_type == "extras.slow" and event["status"] in TERMINAL:
                slow_live.discard(event["job_id"])

        # The slow schedule fires every 0.15s but its job takes 1.5s: one live job at a time.
        assert slow_peak == 1, slow_seen
        assert len(slow_seen) == len(set(slow_seen))
        assert extras_host.job(slow_seen[0])["dedupe_key"] == "schedule:extras.slow"
        assert extras_host.job(slow_seen[0])["status"] == "succeeded"
        assert off == set(), "a schedule disabled by default fired"

        response = extras_host.post("/settings", json={"host": {"schedules": {"extras.off": True}}})
        assert response.status_code == 200, response.text
        assert response.json()["host"]["schedules"] == {"extras.off": True}
        fired = stream.wait_for(
            lambda e: (
                e["type"] == "job.status" and e["status"] == "queued" and e.get("job_type") == "extras.off"
            ),
            timeout=5,
        )
    switches = {job["id"]: job["enabled"] for job in extras_host.get("/status").json()["scheduler"]["jobs"]}
    assert switches["extras.off"] is True
    assert extras_host.wait_for_job(fired["job_id"])["status"] == "succeeded"


def test_an_interval_schedule_is_re_timed_by_the_settings(extras_host: RunningHost) -> None:
    def tick() -> dict[str, Any]:
        jobs = extras_host.get("/status").json()["scheduler"]["jobs"]
        return next(job for job in jobs if job["id"] == "extras.tick")

    with extras_host.events(since=0) as stream:  # a tick fired: the scheduler runs
        stream.wait_for(
            lambda e: e["type"] == "job.status" and e.get("job_type") == "extras.tick", timeout=10
        )
    refused = extras_host.post("/settings", json={"host": {"schedule_intervals": {"extras.tick": 5}}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "host.schedule_intervals.extras.tick"
    unknown = extras_host.post("/settings", json={"host": {"schedule_intervals": {"extras.nope": 600}}})
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["error"]["details"][0]["field"] == "host.schedule_intervals.extras.nope"
    assert tick()["interval"] != 5

    asked_at = time.time()
    response = extras_host.post("/settings", json={"host": {"schedule_intervals": {"extras.tick": 3600}}})
    assert response.status_code == 200, response.text
    retimed = tick()
    assert retimed["interval"] == 3600
    next_run = datetime.fromisoformat(retimed["next_run_at"].replace("Z", "+00:00")).timestamp()
    assert asked_at + 3500 < next_run < time.time() + 3601, "the next run counts from the change"

    response = extras_host.post("/settings", json={"host": {"schedule_intervals": {}}})
    assert response.status_code == 200, response.text
    assert tick()["interval"] == 0.3  # the declared interval again
