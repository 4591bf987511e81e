"""The host under faults from outside, each made for real against the running host: a second
SQLite connection holding the write lock, a full disk (a small tmpfs), the database file
deleted or replaced, and start-ups that cannot succeed. The queue never stops while the host
says it is healthy: it goes on once the fault is gone, or it says why it cannot, on
`/health`, `/status`, the event stream and its exit code.

The disk-full and read-only cases mount a tmpfs, which needs root (CI runs as root); as
another user a read-only dir is made with chmod, and the disk-full test is skipped."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from enttok.exits import Exit
from enttok.testing import RunningHost, SuiteFigures
from enttok.testing.host import EventStream

SUITE = "faults"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def database(host: RunningHost) -> Path:
    return host.data_dir / "data" / "index.db"


def is_status(event: dict[str, Any], job_id: str, *statuses: str) -> bool:
    return event["type"] == "job.status" and event["job_id"] == job_id and event["status"] in statuses


def wait_until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll the host's state (each poll a request) until `check()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
    raise AssertionError(f"not reached in {timeout}s: {what}")


def received_or_wait(stream: EventStream, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The event matching `predicate` among those the stream has delivered, or the next one."""
    for event in stream.received:
        if predicate(event):
            return event
    return stream.wait_for(predicate, 30)


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's view: a connection of our own holding the database's write lock."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield connection
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_a_write_lock_held_elsewhere_stalls_neither_requests_nor_the_queue(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    host = enttok_host("locked", plugins=["demo"])
    with host.events() as stream, ThreadPoolExecutor(1) as pool:
        sleeper = host.submit("demo.sleep", {"seconds": 1.0, "steps": 10})
        stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == sleeper)
        with write_lock(database(host)):
            # A submission waits for the lock without holding up the loop: while it waits
            # (counted in queue_depth before its commit), /status and /health still answer.
            waiting = pool.submit(host.post, "/jobs", json={"type": "demo.noop", "payload": {}})
            wait_until(lambda: host.get("/status").json()["queue_depth"] == 1, "the submission waiting")
            assert not waiting.done()
            assert host.get("/health").json()["status"] == "ok"
            assert host.get(f"/jobs/{sleeper}").status_code == 200
            assert not waiting.done(), "the reads were answered only after the write gave up"
            # Held past the write timeout: 503 with Retry-After, and the health says why.
            refused = waiting.result(timeout=30)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "database_busy"
            assert int(refused.headers["Retry-After"]) >= 1
            health = host.get("/health").json()
            assert health["status"] == "degraded" and health["fault"]["code"] == "database_busy", health
            assert host.get("/status").json()["health"]["fault"]["code"] == "database_busy"
        # The lock is gone: the job whose progress and outcome could not be written meanwhile
        # ends as it would have, and the queue takes new work.
        ended = stream.wait_for(lambda e: is_status(e, sleeper, "succeeded", "failed"), 30)
        assert ended["status"] == "succeeded", host.job(sleeper)
        assert host.job(sleeper)["attempt"] == 1
        after = host.submit("demo.noop")
        stream.wait_for(lambda e: is_status(e, after, "succeeded"), 30)
        received_or_wait(stream, lambda e: e["type"] == "host.health" and e["status"] == "ok")
    assert host.get("/health").json() == {"status": "ok", "version": health["version"], "fault": None}
    assert host.stop() == Exit.OK
    suite_figures.count(
        SUITE, "held write locks survived (requests answered, 503 + Retry-After, queue resumed)"
    )


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros to `directory` until its filesystem refuses more; the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file:  # unbuffered: nothing left to fail at close
        try:
            while True:
                file.write(b"\0" * 65536)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    return filler


def submit_until_refused(host: RunningHost, accepted: list[str], limit: int = 5000) -> httpx.Response:
    """POST demo.noop until the host refuses one (a full disk takes a few: the WAL has room
    left); the refusal. Every 201 is kept in `accepted`: those must not be lost."""
    for _ in range(limit):
        response = host.post("/jobs", json={"type": "demo.noop", "payload": {}})
        if response.status_code != 201:
            return response
        accepted.append(response.json()["job_id"])
    raise AssertionError(f"{limit} jobs accepted on a full disk")


@pytest.mark.skipif(not IS_ROOT, reason="a small filesystem needs a tmpfs mount (root, as in CI)")
def test_a_full_disk_refuses_writes_with_507_keeps_reads_and_stops_cleanly(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    data = tmp_path / "full" / "data"
    logs = {"LOG_DIR": str(tmp_path / "full-logs")}  # the log is not what this test fills
    with mounted_tmpfs(data, "size=4m,mode=0700"):
        host = enttok_host("full", plugins=["demo"], env=logs)
        accepted = [host.submit("demo.noop")]
        host.wait_for_job(accepted[0])
        filler = fill(data)
        refused = submit_until_refused(host, accepted)
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["code"] == "disk_full"
        # Reads go on; the health says what is wrong.
        assert host.get(f"/jobs/{accepted[0]}").json()["status"] == "succeeded"
        assert host.get("/jobs").status_code == 200
        health = host.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        assert health.json()["fault"]["code"] == "disk_full"
        assert host.get("/status").json()["health"]["fault"]["code"] == "disk_full"

        # Space again: the host goes on by itself, and takes work.
        with host.events() as stream:
            filler.unlink()
            stream.wait_for(lambda e: e["type"] == "host.health" and e["status"] == "ok", 30)
        assert host.get("/health").json()["status"] == "ok"
        after = host.run("demo.noop")
        assert after["status"] == "succeeded", after

        # Full again, then SIGTERM: a clean stop that says why, no traceback, no stale host.json.
        filler = fill(data)
        assert submit_until_refused(host, accepted).status_code == 507
        assert host.stop() == Exit.DISK_FULL
        stderr = host.stderr_path.read_text()
        assert "Traceback" not in stderr, stderr
        assert any(
            line.startswith("enttok: stopped with a fault (disk_full)") for line in stderr.splitlines()
        )
        assert not (data / "host.json").exists()

        # Nothing acknowledged was lost: with space, every accepted job runs.
        filler.unlink()
        host = enttok_host("full", plugins=["demo"], env=logs)
        for job_id in accepted:
            assert host.wait_for_job(job_id)["status"] == "succeeded"
        assert host.stop() == Exit.OK
    suite_figures.count(SUITE, "full disks survived (507 disk_full, reads kept, exit 8, then resumed)")
    suite_figures.count(SUITE, "jobs accepted around a full disk verified not lost", len(accepted))


@pytest.mark.skipif(not IS_ROOT, reason="a small filesystem needs a tmpfs mount (root, as in CI)")
def test_a_full_disk_is_announced_live_and_a_full_log_disk_is_said_once(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    """The `degraded` health event cannot be stored while the disk is full: the live stream
    gets it all the same. The log file cannot be written either: that is said once on
    stderr (and once when it can be again), not a traceback per line."""
    data = tmp_path / "full-live" / "data"
    log_dir = tmp_path / "full-logs" / "logs"  # its own disk, so the test's stderr file is not on it
    log_file = log_dir / "enttok.log"
    with mounted_tmpfs(data, "size=4m,mode=0700"), mounted_tmpfs(log_dir, "size=1m,mode=0700"):
        # Full from the start: the last page of a log file that exists may still take a line or two.
        fillers = [fill(log_dir)]
        host = enttok_host("full-live", plugins=["demo"], env={"LOG_DIR": str(log_dir)})
        host.wait_for_job(host.submit("demo.noop"))
        with host.events() as stream:
            fillers.append(fill(data))
            assert submit_until_refused(host, []).status_code == 507
            degraded = stream.wait_for(lambda e: e["type"] == "host.health" and e["status"] == "degraded", 30)
            assert degraded["fault"]["code"] == "disk_full", degraded
            for filler in fillers:
                filler.unlink()
            healthy = stream.wait_for(lambda e: e["type"] == "host.health" and e["status"] == "ok", 30)
            assert healthy["seq"] is not None, "the recovery was not stored"
        assert host.stop() == Exit.OK
        stderr = host.stderr_path.read_text()
        assert "--- Logging error ---" not in stderr and "Traceback" not in stderr, stderr
        assert stderr.count(f"{log_file} cannot be written") == 1, stderr
        assert stderr.count(f"{log_file} is written again") == 1, stderr
        assert "is healthy again" in log_file.read_text() or "recovered" in log_file.read_text()
    if degraded["seq"] is None:
        suite_figures.count(SUITE, "degraded health events sent live while the disk refused to store them")
    suite_figures.count(SUITE, "full log disks reported once, without a traceback per line")


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_deleted_or_replaced_under_the_host_stops_it_taking_work(
    enttok_host: Callable[..., RunningHost], how: str, suite_figures: SuiteFigures
) -> None:
    host = enttok_host(how, plugins=["demo"])
    before = host.run("demo.noop")
    path = database(host)
    with host.events() as stream:
        if how == "deleted":
            path.unlink()
        else:  # a restored backup moved into place: another file at the same path
            copy = path.with_name("restored.db")
            shutil.copyfile(path, copy)
            os.replace(copy, path)
        refused = host.post("/jobs", json={"type": "demo.noop", "payload": {}})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_replaced"
        event = stream.wait_for(lambda e: e["type"] == "host.health")
        assert event["status"] == "error" and event["fault"]["code"] == "database_replaced", event
    health = host.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "error", health.text
    assert health.json()["fault"]["fatal"] is True
    status = host.get("/status").json()
    assert status["health"]["fault"]["code"] == "database_replaced"
    assert host.get(f"/jobs/{before['job_id']}").status_code == 200  # reads still answer
    again = host.post("/jobs", json={"type": "demo.noop", "payload": {}})
    assert again.status_code == 503  # and it stays refused: no job is acknowledged into a ghost
    assert host.stop() == Exit.DATABASE_REPLACED
    stderr = host.stderr_path.read_text()
    assert "Traceback" not in stderr, stderr
    assert "enttok: stopped with a fault (database_replaced)" in stderr and "deleted or replaced" in stderr
    assert not (path.parent / "host.json").exists()
    # Started again, it uses the file now at that path.
    host = enttok_host(how, plugins=["demo"])
    assert host.get("/health").json()["status"] == "ok"
    assert host.run("demo.noop")["status"] == "succeeded"
    suite_figures.count(SUITE, f"databases swapped under a running host noticed: {how}")


# -- start-up failures


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory nobody may write: a read-only tmpfs as root (who ignores modes), else chmod."""
    if IS_ROOT:
        with mounted_tmpfs(path, "ro,size=64k"):
            yield path
        return
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o700)


def serve_once(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m enttok serve`, expected to refuse to start: a host that starts instead runs
    into the timeout (and is killed), failing the test."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "ENTTOK_"))}
    environ.update(
        BACKEND_PORT="0",
        BACKEND_TOKEN=secrets.token_hex(32),
        APP_DATA_DIR=str(data_dir),
        LOG_DIR=str(data_dir.parent / f"{data_dir.name}-logs"),
        RUN_ENV="dev",
        ENTTOK_PLUGINS_ALLOW="demo",
    )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "enttok", "serve"],
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _refused_with(result: subprocess.CompletedProcess[str], code: Exit, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "ENTTOK_READY" not in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("enttok: ")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_start_up_failures_each_say_why_with_their_own_exit_code(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    codes = {}
    with read_only_dir(tmp_path / "ro-data") as data_dir:
        _refused_with(serve_once(data_dir), Exit.DATA_DIR_NOT_WRITABLE, str(data_dir), "APP_DATA_DIR")
        codes["read-only APP_DATA_DIR"] = Exit.DATA_DIR_NOT_WRITABLE
    with read_only_dir(tmp_path / "ro-logs") as log_dir:
        result = serve_once(tmp_path / "fine", LOG_DIR=str(log_dir / "logs"))
        _refused_with(result, Exit.LOG_DIR_NOT_WRITABLE, str(log_dir), "LOG_DIR")
        codes["read-only LOG_DIR"] = Exit.LOG_DIR_NOT_WRITABLE
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_once(tmp_path / "port", BACKEND_PORT=str(port))
        _refused_with(result, Exit.PORT_UNAVAILABLE, f"127.0.0.1:{port}", "BACKEND_PORT")
        codes["port in use"] = Exit.PORT_UNAVAILABLE
    running = enttok_host("locked", plugins=["demo"])
    _refused_with(serve_once(running.data_dir), Exit.DATA_DIR_LOCKED, str(running.process.pid))
    codes["data dir in use"] = Exit.DATA_DIR_LOCKED
    stopped = enttok_host("held", plugins=["demo"])
    assert stopped.stop() == Exit.OK
    with write_lock(database(stopped)):  # a program of the user's, holding the database
        result = serve_once(stopped.data_dir)
    _refused_with(result, Exit.DATA_DIR_LOCKED, "write lock", str(database(stopped)))
    suite_figures.count(SUITE, "start-ups refused while another program held the write lock (exit 3)")
    corrupt = tmp_path / "corrupt"
    (corrupt / "data").mkdir(parents=True)
    (corrupt / "data" / "index.db").write_bytes(os.urandom(64 * 1024))
    _refused_with(serve_once(corrupt), Exit.DATABASE_UNUSABLE, "index.db")
    codes["corrupt database"] = Exit.DATABASE_UNUSABLE
    result = serve_once(tmp_path / "config", BACKEND_PORT="eighty")
    _refused_with(result, Exit.CONFIG, "BACKEND_PORT")
    codes["bad configuration"] = Exit.CONFIG
    assert len(set(codes.values())) == len(codes), codes
    for what in codes:
        suite_figures.count(SUITE, f"start-up failures with their own exit code: {what}")
    suite_figures.note(SUITE, "exit codes " + json.dumps({what: int(code) for what, code in codes.items()}))


# -- compaction


def write_history(path: Path, jobs: int, events: int) -> None:
    """`jobs` finished jobs two months old, `events` events each, and one host event of no
    job per ten jobs, written straight into a stopped host's database."""
    old = "2000-01-01T00:00:00.000000Z"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO jobs (job_id, type, status, created_at, updated_at, run_after, finished_at,"
            " attempt, max_attempts, payload_json) VALUES (?, 'demo.noop', 'succeeded', ?, ?, ?, ?, 1, 3, '{}')",
            [(f"job_old_{n:06d}", old, old, old, old) for n in range(jobs)],
        )
        connection.executemany(
            "INSERT INTO job_events (job_id, created_at, type) VALUES (?, ?, 'job.status')",
            [(f"job_old_{n:06d}", old) for n in range(jobs) for _ in range(events)],
        )
        connection.executemany(
            "INSERT INTO job_events (job_id, created_at, type) VALUES (NULL, ?, 'log')",
            [(old,) for _ in range(jobs // 10)],
        )
        connection.execute("COMMIT")
    finally:
        connection.close()


def pragma(path: Path, name: str) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize("made_by", ["this host", "an older host"])
def test_compact_prunes_in_steps_and_gives_space_back_incrementally(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, made_by: str, suite_figures: SuiteFigures
) -> None:
    from enttok.maintenance import PRUNE_STEP

    path = tmp_path / "compact" / "data" / "index.db"
    if made_by == "an older host":  # a file from before new files were made incremental
        path.parent.mkdir(parents=True)
        with contextlib.closing(sqlite3.connect(path)) as legacy:
            legacy.execute("CREATE TABLE older_host_marker (x)")
        assert pragma(path, "auto_vacuum") == 0
    host = enttok_host("compact", plugins=["demo"])
    assert host.stop() == Exit.OK
    jobs = 3 * PRUNE_STEP + 7  # several steps, the last one short
    write_history(path, jobs, events=3)
    host = enttok_host("compact", plugins=["demo"])
    recent = host.run("demo.noop")
    compacted = host.run("maintenance.compact", {"retention_days": 30, "vacuum": True}, timeout=120)
    assert compacted["status"] == "succeeded", compacted
    result = compacted["result"]
    assert result["deleted_jobs"] == jobs
    assert result["deleted_events"] == jobs * 3 + jobs // 10
    assert result["integrity_check"] == "ok"
    # A file made incremental gives its space back in steps; an older one is switched once.
    assert result["vacuum"] == ("incremental" if made_by == "this host" else "full")
    assert host.job(recent["job_id"])["status"] == "succeeded"  # recent history is kept
    if made_by == "an older host":
        again = host.run("maintenance.compact", {"retention_days": 30, "vacuum": True})
        assert again["result"]["vacuum"] == "incremental", again
    assert host.stop() == Exit.OK
    assert pragma(path, "auto_vacuum") == 2  # INCREMENTAL
    assert pragma(path, "freelist_count") == 0
    suite_figures.count(SUITE, f"compactions in steps verified: made by {made_by}")
    suite_figures.count(SUITE, "old jobs pruned by compaction in steps", jobs)
