"""Crashes and stops against the real host: kill -9 mid-queue loses nothing, SIGTERM
re-queues the running job, --parent-watch, one host per data dir, and a corrupt or
truncated database refused without being touched."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enttok.testing import RunningHost, SuiteFigures

SUITE = "recovery"  # the line these tests' figures go to in the run's summary
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
JOBS = 500


def is_status(event: dict[str, Any], job_id: str | None = None, *statuses: str) -> bool:
    return (
        event["type"] == "job.status"
        and (job_id is None or event["job_id"] == job_id)
        and (not statuses or event["status"] in statuses)
    )


def database(host_or_dir: RunningHost | Path) -> Path:
    data_dir = host_or_dir.data_dir if isinstance(host_or_dir, RunningHost) else host_or_dir
    return data_dir / "data" / "index.db"


def read_db(path: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def serve_once(data_dir: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """`python -m enttok serve` on `data_dir`, expected to refuse to start: its exit and output.
    A host that starts instead runs into the timeout (and is killed), failing the test."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "ENTTOK_"))}
    environ.update(
        BACKEND_PORT="0",
        BACKEND_TOKEN=secrets.token_hex(32),
        APP_DATA_DIR=str(data_dir),
        LOG_DIR=str(data_dir / "refused-logs"),
        RUN_ENV="dev",
        ENTTOK_PLUGINS_ALLOW="demo",
    )
    return subprocess.run(
        [sys.executable, "-m", "enttok", "serve"],
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_kill_9_mid_queue_loses_no_job(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    host = enttok_host("crash", plugins=["demo"])
    assert host.post("/settings", json={"host": {"workers": 8}}).status_code == 200
    with host.events() as stream:
        ids = [host.submit("demo.sleep", {"seconds": 0.05, "steps": 1}) for _ in range(JOBS)]
        wanted = set(ids)
        done: set[str] = set()
        while len(done) < 100:
            event = stream.next(30)
            if is_status(event, None, "succeeded") and event["job_id"] in wanted:
                done.add(event["job_id"])
        host.kill()

    path = database(host)
    at_kill = dict(read_db(path, "SELECT status, count(*) FROM jobs GROUP BY status"))
    assert at_kill.get("running", 0) > 0, at_kill  # the crash hit jobs mid-run
    assert 100 <= at_kill.get("succeeded", 0) < JOBS, at_kill

    host = enttok_host("crash", plugins=["demo"])
    with host.events() as stream:
        finished = {
            job["job_id"]
            for page in _pages(host, status="succeeded", type="demo.sleep")
            for job in page
            if job["job_id"] in wanted
        }
        deadline = time.monotonic() + 30
        while finished != wanted:
            event = stream.next(max(0.1, deadline - time.monotonic()))
            if is_status(event) and event["job_id"] in wanted:
                assert event["status"] in ("running", "succeeded"), event
                if event["status"] == "succeeded":
                    finished.add(event["job_id"])
        marker = host.submit("demo.noop")
        stream.wait_for(lambda e: is_status(e, marker, "succeeded"))

    # The whole history, replayed from the start over the socket.
    history = []
    with host.events(since=0) as stream:
        while not is_status(event := stream.next(), marker, "succeeded"):
            history.append(event)
    seqs = [event["seq"] for event in history]
    assert seqs == sorted(set(seqs))
    terminal = Counter((e["job_id"], e["status"]) for e in history if is_status(e, None, *TERMINAL))
    assert all(terminal[(job_id, "succeeded")] == 1 for job_id in ids), "a job succeeded twice or never"
    assert not [key for key in terminal if key[1] != "succeeded" and key[0] in wanted]
    recovered = [e for e in history if is_status(e) and e.get("recovered")]
    assert recovered, "the jobs running at the crash were not recovered"
    assert {e["status"] for e in recovered} == {"queued"}
    assert {e["job_id"] for e in recovered} <= wanted

    status = host.get("/status").json()
    assert status["queue_depth"] == 0
    for state in ("queued", "running", "failed", "canceled"):
        assert host.get("/jobs", params={"status": state}).json()["jobs"] == []
    assert host.stop() == 0
    assert read_db(path, "PRAGMA integrity_check") == [("ok",)]
    assert read_db(path, "SELECT count(*) FROM jobs WHERE type = 'demo.sleep' AND status = 'succeeded'") == [
        (JOBS,)
    ]
    suite_figures.count(SUITE, "kills (SIGKILL) survived")
    suite_figures.count(SUITE, "jobs verified not lost", len(wanted))
    suite_figures.count(
        SUITE, "jobs caught running by a kill and re-queued", len({e["job_id"] for e in recovered})
    )


def _pages(host: RunningHost, **filters: str) -> list[list[dict[str, Any]]]:
    pages, before = [], None
    while True:
        params = {**filters, "limit": "500", **({"before": before} if before else {})}
        body = host.get("/jobs", params=params).json()
        pages.append(body["jobs"])
        before = body["next_before"]
        if before is None:
            return pages


def test_sigterm_exits_0_and_requeues_the_running_job(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    host = enttok_host("term", plugins=["demo"])
    with host.events() as stream:
        job_id = host.submit("demo.sleep", {"seconds": 4, "steps": 40})
        stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == job_id)
    asked = time.monotonic()
    assert host.stop(timeout=15) == 0
    took = time.monotonic() - asked
    assert took < 5, f"SIGTERM took {took:.1f}s"
    assert read_db(database(host), f"SELECT status FROM jobs WHERE job_id = '{job_id}'") == [("queued",)]

    host = enttok_host("term", plugins=["demo"])
    job = host.wait_for_job(job_id, timeout=20)
    assert job["status"] == "succeeded", job
    statuses = [e["status"] for e in host.job_events(job_id) if e["type"] == "job.status"]
    assert statuses == ["queued", "running", "queued", "running", "succeeded"], statuses
    suite_figures.count(SUITE, "stopped by SIGTERM (exit 0, running job re-queued)")


def test_parent_watch_exits_when_stdin_closes(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host("watch", plugins=["demo"], args=["--parent-watch"])
    assert host.run("demo.noop")["status"] == "succeeded"
    assert host.process.stdin is not None
    host.process.stdin.close()
    assert host.process.wait(10) == 0


def test_second_host_on_the_same_data_dir_is_refused(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    first = enttok_host("shared", plugins=["demo"])
    refused = serve_once(first.data_dir)
    assert refused.returncode != 0
    assert "ENTTOK_READY" not in refused.stdout
    assert "another enttok host" in refused.stderr, refused.stderr
    assert str(first.process.pid) in refused.stderr
    assert str(first.data_dir.resolve()) in refused.stderr
    # the first host is untouched
    assert first.get("/health").status_code == 200
    assert first.run("demo.noop")["status"] == "succeeded"
    suite_figures.count(SUITE, "refused as a second host on a live data dir")


def _refuses_untouched(data_dir: Path) -> None:
    path = database(data_dir)
    before = path.read_bytes()
    refused = serve_once(data_dir)
    assert refused.returncode != 0, refused.stdout
    assert "ENTTOK_READY" not in refused.stdout
    assert str(path.resolve()) in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    after = path.read_bytes()
    assert hashlib.sha256(after).hexdigest() == hashlib.sha256(before).hexdigest()
    assert len(after) == len(before)


def test_corrupt_database_is_refused_and_left_untouched(tmp_path: Path, suite_figures: SuiteFigures) -> None:
    path = database(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(64 * 1024))
    _refuses_untouched(tmp_path)
    suite_figures.count(SUITE, "bad databases refused and left untouched: corrupt")


def test_truncated_database_is_refused_and_left_untouched(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    host = enttok_host("truncated", plugins=["demo"])
    for _ in range(20):
        host.submit("demo.sleep", {"seconds": 0, "steps": 1})
    host.run("maintenance.compact", {"retention_days": 30})
    assert host.stop() == 0
    path = database(host)
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    size = path.stat().st_size
    assert size >= 8 * 4096, size
    with open(path, "r+b") as file:
        file.truncate(size // 2)
    _refuses_untouched(host.data_dir)
    suite_figures.count(SUITE, "bad databases refused and left untouched: truncated")
