"""`maintenance.compact` on a large history: do requests and jobs keep flowing meanwhile?

A history of `--jobs` finished jobs (two months old, `--events` events each, plus host events
of no job) is written straight into a host's database, then copied for each set-up, so
every set-up starts from the same file. Each set-up runs a host (`enttok serve` as the app
starts it, `demo` only) and, for the whole compaction:

- a probe sends `GET /health` back to back over a raw socket: its latency is what any
  request waits, at worst, while the compaction runs;
- a load submits a `demo.noop` every 20 ms, one at a time: the `POST /jobs` round trip is
  how long a submission waits for its commit, and each job's `created_at` to `finished_at`
  in the host's own table how long it waits for the queue.

Set-ups, in this order, in one invocation:

- `idle`: the same probe and load for as long as `stepped` took, with nothing compacting:
  the baseline of both latencies.
- `stepped`: `maintenance.compact {"retention_days": 30, "vacuum": true, "analyze": true}`
  as the host runs it now (deletes in steps, sampled ANALYZE, incremental vacuum).
- `one-shot`: what `compact` did before, from a second connection of the benchmark's: every
  delete in one transaction, a full ANALYZE, then `VACUUM`. It holds the write lock for
  seconds; the host's loop no longer waits on it, but its queue does.

Reported: the compaction's duration; during it, /health p50, p99 and max, POST /jobs p50
and max, the noop jobs' p50 and max latency, and submissions refused (503); the latencies
also as ratios to `idle`.

    uv run python bench/compact_bench.py [--jobs 200000] [--events 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import httpx
from common import (
    LOOPBACK,
    TOKEN,
    exit_cleanly_on_sigterm,
    host_command,
    host_env,
    machine_info,
    python_env,
    read_ready_line,
    running,
    save_results,
)

LOAD_INTERVAL = 0.02
RETENTION_DAYS = 30
TERMINAL = ("succeeded", "failed", "canceled")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_history(data_dir: Path, jobs: int, events: int, env: dict[str, str]) -> dict[str, Any]:
    """A host's data dir holding `jobs` old finished jobs: the schema from a real host, the
    rows written here in large transactions."""
    with running(host_command(), host_env(env, data_dir)) as process:
        read_ready_line(process)
    path = data_dir / "data" / "index.db"
    old = datetime.now(UTC) - timedelta(days=2 * RETENTION_DAYS)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        for start in range(0, jobs, 10_000):
            batch = range(start, min(jobs, start + 10_000))
            stamp = iso(old)
            connection.executemany(
                "INSERT INTO jobs (job_id, type, status, created_at, updated_at, run_after, finished_at,"
                " attempt, max_attempts, progress, payload_json, result_json) VALUES"
                " (?, 'demo.noop', 'succeeded', ?, ?, ?, ?, 1, 3, 1.0, '{}', '{\"ok\": true}')",
                [(f"job_history_{n:09d}", stamp, stamp, stamp, stamp) for n in batch],
            )
            connection.executemany(
                "INSERT INTO job_events (job_id, created_at, type, level, data_json) VALUES (?, ?, ?, 'info', ?)",
                [
                    (
                        f"job_history_{n:09d}",
                        stamp,
                        "job.status",
                        json.dumps({"status": "running", "step": e}),
                    )
                    for n in batch
                    for e in range(events)
                ],
            )
            connection.executemany(
                "INSERT INTO job_events (job_id, created_at, type, level, message) VALUES (NULL, ?, 'log', 'info', ?)",
                [(stamp, f"host event {n}") for n in batch if n % 10 == 0],
            )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return {"jobs": jobs, "events_per_job": events, "file_mib": round(path.stat().st_size / 2**20, 1)}


class Probe(threading.Thread):
    """`GET /health` back to back on one keep-alive socket; (start, seconds) of each."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        request = f"GET /health HTTP/1.1\r\nHost: {LOOPBACK}:{self.port}\r\n\r\n".encode()
        with socket.create_connection((LOOPBACK, self.port)) as connection:
            connection.settimeout(120)
            while not self.stopping.is_set():
                started = time.monotonic()
                connection.sendall(request)
                answer = b""
                while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                    answer += connection.recv(4096)
                self.samples.append((started, time.monotonic() - started))
                time.sleep(0.002)


class Load(threading.Thread):
    """A `demo.noop` every LOAD_INTERVAL seconds; the ids of those submitted."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=f"http://{LOOPBACK}:{port}", headers={"X-Backend-Token": TOKEN}, timeout=120
        )
        self.submitted: list[str] = []
        self.answers: list[tuple[float, float]] = []
        """(start, seconds) of each POST /jobs, as the client saw it."""
        self.refused = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(LOAD_INTERVAL):
            started = time.monotonic()
            response = self.client.post("/jobs", json={"type": "demo.noop", "payload": {}})
            self.answers.append((started, time.monotonic() - started))
            if response.status_code == 201:
                self.submitted.append(response.json()["job_id"])
            else:
                self.refused += 1


def one_shot_compaction(path: Path) -> None:
    """`maintenance.compact` as it was: one transaction for every delete, then full ANALYZE
    and VACUUM, each holding the write lock for as long as it runs."""
    cutoff = iso(datetime.now(UTC) - timedelta(days=RETENTION_DAYS))
    finished = f"status IN {TERMINAL!r} AND finished_at < ?"
    connection = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            f"DELETE FROM job_events WHERE job_id IN (SELECT job_id FROM jobs WHERE {finished})", (cutoff,)
        )
        connection.execute("DELETE FROM job_events WHERE job_id IS NULL AND created_at < ?", (cutoff,))
        connection.execute(f"DELETE FROM jobs WHERE {finished}", (cutoff,))
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("VACUUM")
    finally:
        connection.close()


def measure(setup: str, history: Path, env: dict[str, str], idle_for: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"enttok-compact-{setup}-") as scratch:
        data_dir = Path(scratch) / "data-dir"
        shutil.copytree(history, data_dir)
        path = data_dir / "data" / "index.db"
        with running(host_command(), {**host_env(env, data_dir), "ENTTOK_PLUGINS_ALLOW": "demo"}) as process:
            port = int(read_ready_line(process)["port"])
            probe, load = Probe(port), Load(port)
            probe.start()
            load.start()
            started = time.monotonic()
            wall_start = datetime.now(UTC)
            if setup == "stepped":
                result = compact_through_the_host(load.client)
            elif setup == "one-shot":
                one_shot_compaction(path)
                result = {"status": "succeeded"}
            else:
                time.sleep(idle_for)
                result = {"status": "succeeded"}
            took = time.monotonic() - started
            wall_end = datetime.now(UTC)
            load.stopping.set()
            load.join()
            wait_for_jobs(path, load.submitted)
            probe.stopping.set()
            probe.join()
            jobs = job_latencies(path, load.submitted, wall_start, wall_end)
        during = [seconds for at, seconds in probe.samples if started <= at <= started + took]
        submits = [seconds for at, seconds in load.answers if started <= at <= started + took]
        return {
            "setup": setup,
            "result": result,
            "seconds": round(took, 2),
            "health_ms": summary(during),
            "submit_ms": summary(submits),
            "job_ms": summary(jobs),
            "jobs_during": len(jobs),
            "refused": load.refused,
            "samples": {"health": during, "submit": submits, "jobs": jobs},
        }


def compact_through_the_host(client: httpx.Client) -> dict[str, Any]:
    payload = {"retention_days": RETENTION_DAYS, "vacuum": True, "analyze": True}
    job_id = client.post("/jobs", json={"type": "maintenance.compact", "payload": payload}).json()["job_id"]
    while (job := client.get(f"/jobs/{job_id}").json())["status"] not in TERMINAL:
        time.sleep(0.05)
    return {"status": job["status"], **(job["result"] or {}), "error": job["error"]}


def wait_for_jobs(path: Path, job_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not job_ids or all(status in TERMINAL for status in statuses(path, job_ids).values()):
            return
        time.sleep(0.05)
    raise TimeoutError("the load's jobs did not finish")


def statuses(path: Path, job_ids: list[str]) -> dict[str, str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ", ".join("?" * len(job_ids))
        return dict(connection.execute(f"SELECT job_id, status FROM jobs WHERE job_id IN ({marks})", job_ids))
    finally:
        connection.close()


def job_latencies(path: Path, job_ids: list[str], start: datetime, end: datetime) -> list[float]:
    """created_at to finished_at of the jobs submitted while the compaction ran, in seconds."""
    if not job_ids:
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ", ".join("?" * len(job_ids))
        rows = connection.execute(
            f"SELECT created_at, finished_at FROM jobs WHERE job_id IN ({marks}) AND created_at BETWEEN ? AND ?",
            (*job_ids, iso(start), iso(end)),
        ).fetchall()
    finally:
        connection.close()
    return [(parse(finished) - parse(created)).total_seconds() for created, finished in rows]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def summary(seconds: list[float]) -> dict[str, float | None]:
    if len(seconds) < 2:
        return {"p50": None, "p99": None, "max": None, "n": len(seconds)}
    return {
        "p50": round(median(seconds) * 1000, 2),
        "p99": round(quantiles(seconds, n=100, method="inclusive")[98] * 1000, 2),
        "max": round(max(seconds) * 1000, 2),
        "n": len(seconds),
    }


def ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.1f}x" if value is not None and base else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200_000, help="finished jobs in the history")
    parser.add_argument("--events", type=int, default=4, help="events per job in the history")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="enttok-compact-") as scratch:
        env = python_env(Path(scratch) / "pycache")
        history = Path(scratch) / "history"
        print(f"building a history of {args.jobs:,} jobs ...", flush=True)
        built = build_history(history, args.jobs, args.events, env)
        print(f"history: {built}", flush=True)
        stepped = measure("stepped", history, env, 0)
        idle = measure("idle", history, env, stepped["seconds"])
        one_shot = measure("one-shot", history, env, 0)
    runs = [idle, stepped, one_shot]
    print(
        f"\n{'set-up':<10} {'seconds':>8} | {'/health ms p50':>14} {'p99':>7} {'max':>7} |"
        f" {'POST /jobs ms p50':>17} {'max':>7} | {'job ms p50':>10} {'max':>7} | {'jobs':>5} {'refused':>7}"
    )
    for run in runs:
        health, submit, job = run["health_ms"], run["submit_ms"], run["job_ms"]
        print(
            f"{run['setup']:<10} {run['seconds']:>8} | {health['p50']!s:>14} {health['p99']!s:>7} {health['max']!s:>7} |"
            f" {submit['p50']!s:>17} {submit['max']!s:>7} | {job['p50']!s:>10} {job['max']!s:>7} |"
            f" {run['jobs_during']:>5} {run['refused']:>7}"
        )
    for run in (stepped, one_shot):
        print(
            f"{run['setup']}: /health p99 {ratio(run['health_ms']['p99'], idle['health_ms']['p99'])} of idle;"
            f" POST /jobs max {ratio(run['submit_ms']['max'], idle['submit_ms']['max'])};"
            f" job max {ratio(run['job_ms']['max'], idle['job_ms']['max'])}"
        )
    print(f"stepped compaction result: {json.dumps({k: v for k, v in stepped['result'].items()})}")
    saved = save_results("compact", {"machine": machine_info(), "history": built, "runs": runs})
    print(f"results: {saved}")


if __name__ == "__main__":
    main()
