"""End-to-end job throughput: `demo.noop` jobs through the enttok host against huey's SqliteHuey.

enttok: a fresh host is started as the app starts it (`enttok serve`, port from its ready line).
After a warm-up batch, JOBS jobs are submitted with `POST /jobs` over CONCURRENCY keep-alive
connections, one request in flight on each (see rawhttp.py for why not httpx), and the clock
stops when the host's database says every one of them `succeeded`: the whole path of a job,
HTTP, validation, the durable queue, a worker, the result. The database is read read-only, so
the benchmark never takes the host's write lock. A second enttok run does the same with one
`/events` WebSocket subscriber attached, as the desktop app always is, and stops the clock on
the last `job.status succeeded` event it receives instead.

huey: as many no-op tasks enqueued into a SqliteHuey database, then drained by a consumer with
as many worker threads as the host has workers; the clock runs from the first enqueue to the
last task's completion signal. huey runs in this process and skips HTTP, the cheaper path of
the two. The target is judged against SqliteHuey as shipped, whose default is synchronous=FULL
(an fsync per commit); the host runs WAL with synchronous=NORMAL, so a like-for-like huey with
NORMAL (same journal mode, same disk) is measured too: it shows how much of the margin is the
host's design and how much is fewer fsyncs.

Every set-up runs `--repeats` times, interleaved; medians are reported. The host's CPU time
per job is reported as well: on a shared machine it varies much less than jobs per second.

    uv run --group bench python bench/throughput.py [--jobs 5000] [--concurrency 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from statistics import median
from typing import Any, TypeVar

import rawhttp
import uvloop
from common import (
    TOKEN,
    cpu_seconds,
    exit_cleanly_on_sigterm,
    host_command,
    host_env,
    machine_info,
    python_env,
    ratio_text,
    read_ready_line,
    running,
    save_results,
    verdict,
)
from huey import Huey
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR
from huey.storage import SqliteStorage
from websockets.sync.client import connect as websocket_connect

JOBS = 5000
CONCURRENCY = 32
WARMUP_JOBS = 200
POLL_INTERVAL = 0.005
DRAIN_TIMEOUT = 120.0
REPEATS = 5
TARGET_JOBS_PER_SEC = 2000
TARGET_HUEY_RATIO = 2.0

T = TypeVar("T")


# -- enttok


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop (as the host does) so the load generator spends as little CPU as it can."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def submit_all(port: int, jobs: int, concurrency: int) -> list[str]:
    """POST `jobs` demo.noop jobs over `concurrency` keep-alive connections, one request in
    flight on each; their ids. Anything but 201 fails the run."""
    request = rawhttp.build(
        "POST", "/jobs", port, {"X-Backend-Token": TOKEN}, {"type": "demo.noop", "payload": {}}
    )
    remaining = iter(range(jobs))
    ids: list[str] = []

    async def client_loop() -> None:
        connection = await rawhttp.Connection.open(port)
        try:
            for _ in remaining:
                status, body = await connection.request(request)
                if status != 201:
                    raise rawhttp.HttpError(f"POST /jobs answered {status}: {body[:200]!r}")
                ids.append(json.loads(body)["job_id"])
        finally:
            await connection.close()

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return ids


async def host_workers(port: int) -> int:
    """The host's `workers` setting, so huey gets as many consumer threads."""
    connection = await rawhttp.Connection.open(port)
    try:
        status, body = await connection.request(
            rawhttp.build("GET", "/settings", port, {"X-Backend-Token": TOKEN})
        )
    finally:
        await connection.close()
    if status != 200:
        raise rawhttp.HttpError(f"GET /settings answered {status}")
    return int(json.loads(body)["host"]["workers"])


def wait_until_succeeded(database: Path, count: int) -> float:
    """Poll the host's database read-only until `count` demo.noop jobs have succeeded; when.

    Polling every few milliseconds adds at most that to a run of seconds. A failed job stops
    the wait at once, since it would never be counted."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            query = "SELECT status, count(*) FROM jobs WHERE type = 'demo.noop' GROUP BY status"
            counts = dict(connection.execute(query).fetchall())
            if counts.get("succeeded", 0) >= count:
                return time.monotonic()
            if counts.get("failed") or counts.get("canceled"):
                raise RuntimeError(f"demo.noop jobs did not all succeed: {counts}")
            time.sleep(POLL_INTERVAL)
    finally:
        connection.close()
    raise TimeoutError(f"fewer than {count} jobs succeeded within {DRAIN_TIMEOUT:g}s")


class Subscriber(threading.Thread):
    """An `/events` WebSocket client in a thread, as the app keeps one open: it counts
    `job.status succeeded` events and notes when the `expected`-th arrived."""

    def __init__(self, port: int, expected: int) -> None:
        super().__init__(daemon=True, name="events-subscriber")
        self.expected = expected
        self.succeeded = 0
        self.finished_at: float | None = None
        self.error: BaseException | None = None
        self.socket = websocket_connect(
            f"ws://127.0.0.1:{port}/events", additional_headers={"X-Backend-Token": TOKEN}, open_timeout=10
        )

    def run(self) -> None:
        try:
            for message in self.socket:
                event = json.loads(message)
                if event.get("type") == "job.status" and event.get("status") == "succeeded":
                    self.succeeded += 1
                    if self.succeeded == self.expected:
                        self.finished_at = time.monotonic()
                        return
        except Exception as error:  # reported by wait(), in the main thread
            self.error = error

    def wait(self) -> float:
        self.join(DRAIN_TIMEOUT)
        self.socket.close()
        if self.finished_at is None:
            raise RuntimeError(
                f"the /events subscriber saw {self.succeeded} of {self.expected} jobs succeed"
                f" (it was dropped or timed out: {self.error!r})"
            )
        return self.finished_at


def run_enttok(jobs: int, concurrency: int, base_env: dict[str, str], subscribe: bool) -> dict[str, float]:
    """One fresh host: a warm-up batch, then `jobs` jobs timed from the first POST to the last
    success (seen in the database, or with `subscribe` on the /events stream)."""
    with tempfile.TemporaryDirectory(prefix="enttok-bench-") as data_dir:
        database = Path(data_dir) / "data" / "index.db"
        with running(host_command(), host_env(base_env, Path(data_dir))) as process:
            port = int(read_ready_line(process)["port"])
            workers = run_async(host_workers(port))
            run_async(submit_all(port, WARMUP_JOBS, concurrency))
            wait_until_succeeded(database, WARMUP_JOBS)
            subscriber = Subscriber(port, jobs) if subscribe else None
            if subscriber:
                subscriber.start()
            cpu_before, started = cpu_seconds(process.pid), time.monotonic()
            ids = run_async(submit_all(port, jobs, concurrency))
            submitted = time.monotonic()
            finished = subscriber.wait() if subscriber else wait_until_succeeded(database, WARMUP_JOBS + jobs)
            cpu = cpu_seconds(process.pid) - cpu_before
    if len(set(ids)) != jobs:
        raise RuntimeError(f"{jobs} submissions returned {len(set(ids))} distinct job ids")
    return {
        "workers": workers,
        "seconds": finished - started,
        "jobs_per_sec": jobs / (finished - started),
        "submits_per_sec": jobs / (submitted - started),
        "host_cpu_us_per_job": cpu / jobs * 1e6,
    }


# -- huey


class NormalSyncSqliteStorage(SqliteStorage):
    """SqliteHuey's storage with `synchronous=NORMAL`, the host's setting. huey itself offers
    only FULL (its default: an fsync per commit) or OFF, so this is the one way to see the two
    queues pay the same for a commit."""

    def _create_connection(self) -> sqlite3.Connection:
        connection = super()._create_connection()
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection


HUEY_STORAGES: dict[str, type[SqliteStorage]] = {
    "huey": SqliteStorage,  # SqliteHuey as shipped (synchronous=FULL): the baseline of the target
    "huey_sync_normal": NormalSyncSqliteStorage,  # like for like with the host, for reference
}


def run_huey(jobs: int, workers: int, storage: type[SqliteStorage]) -> dict[str, float]:
    """Enqueue `jobs` no-op tasks, then drain them with a `workers`-thread consumer, timed."""
    with tempfile.TemporaryDirectory(prefix="huey-bench-") as scratch:
        huey = Huey("bench", storage_class=storage, filename=str(Path(scratch) / "huey.db"))
        done, lock, ended = threading.Event(), threading.Lock(), {SIGNAL_COMPLETE: 0, SIGNAL_ERROR: 0}

        @huey.task()
        def noop() -> None:
            return None

        @huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
        def on_end(signal_name: str, task: object, *args: object) -> None:
            with lock:
                ended[signal_name] += 1
                if sum(ended.values()) >= jobs:
                    done.set()

        started = time.monotonic()
        for _ in range(jobs):
            noop()
        enqueued = time.monotonic()
        consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
        start_keeping_our_signals(consumer.start)
        try:
            if not done.wait(DRAIN_TIMEOUT):
                raise TimeoutError(f"huey ran {sum(ended.values())} of {jobs} tasks in {DRAIN_TIMEOUT:g}s")
            finished = time.monotonic()
        finally:
            consumer.stop(graceful=True)  # joins its threads: none outlives the run
            huey.storage.close()
    if ended[SIGNAL_ERROR]:
        raise RuntimeError(f"{ended[SIGNAL_ERROR]} huey tasks failed")
    return {
        "seconds": finished - started,
        "jobs_per_sec": jobs / (finished - started),
        "enqueues_per_sec": jobs / (enqueued - started),
    }


def start_keeping_our_signals(start: Callable[[], None]) -> None:
    """Call huey's `Consumer.start` but put back this process's SIGINT/SIGTERM/SIGHUP handlers,
    which it replaces with its own, so Ctrl-C still runs the benchmark's clean-ups."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        start()
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


# -- both


def measure(jobs: int = JOBS, concurrency: int = CONCURRENCY, repeats: int = REPEATS) -> dict[str, object]:
    """Interleave every set-up `repeats` times; medians, every run, and the ratios."""
    kinds = ("enttok", "enttok_subscribed", *HUEY_STORAGES)
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-pycache-") as pycache:
        base_env = python_env(Path(pycache))
        for _ in range(max(1, repeats)):
            runs["enttok"].append(run_enttok(jobs, concurrency, base_env, subscribe=False))
            runs["enttok_subscribed"].append(run_enttok(jobs, concurrency, base_env, subscribe=True))
            workers = int(runs["enttok"][0]["workers"])
            for kind, storage in HUEY_STORAGES.items():
                runs[kind].append(run_huey(jobs, workers, storage))
    rate = {kind: median([run["jobs_per_sec"] for run in runs[kind]]) for kind in kinds}
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "workers": workers,
        "repeats": len(runs["enttok"]),
        "jobs_per_sec": rate,
        "ratio": rate["enttok"] / rate["huey"],
        "ratio_sync_normal": rate["enttok"] / rate["huey_sync_normal"],
        "host_cpu_us_per_job": {
            kind: median([run["host_cpu_us_per_job"] for run in runs[kind]])
            for kind in ("enttok", "enttok_subscribed")
        },
        "enttok_submits_per_sec": median([run["submits_per_sec"] for run in runs["enttok"]]),
        "huey_enqueues_per_sec": median([run["enqueues_per_sec"] for run in runs["huey"]]),
        "runs": runs,
        "targets": {"jobs_per_sec": TARGET_JOBS_PER_SEC, "huey_ratio": TARGET_HUEY_RATIO},
    }


def report(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows (benchmark, enttok, baseline, ratio, target) for the summary table."""
    rate, ratio, cpu = results["jobs_per_sec"], results["ratio"], results["host_cpu_us_per_job"]
    rate_met, ratio_met = verdict(rate["enttok"] >= TARGET_JOBS_PER_SEC), verdict(ratio >= TARGET_HUEY_RATIO)
    return [
        (
            f"{results['jobs']} demo.noop end to end (median)",
            f"{rate['enttok']:.0f} jobs/s",
            f"{rate['huey']:.0f} jobs/s (SqliteHuey)",
            ratio_text(ratio, TARGET_HUEY_RATIO),
            f">= {TARGET_JOBS_PER_SEC}/s: {rate_met}; >= {TARGET_HUEY_RATIO:g}x huey: {ratio_met}",
        ),
        (
            "  same, huey with the host's sync NORMAL",
            "",
            f"{rate['huey_sync_normal']:.0f} jobs/s (huey NORMAL)",
            f"{results['ratio_sync_normal']:.2f}x",
            "like for like, reference",
        ),
        (
            "  same, one /events subscriber attached",
            f"{rate['enttok_subscribed']:.0f} jobs/s",
            "",
            "",
            "reference",
        ),
        (
            "  submission alone (POST /jobs; huey enqueue)",
            f"{results['enttok_submits_per_sec']:.0f} /s",
            f"{results['huey_enqueues_per_sec']:.0f} /s (SqliteHuey)",
            "",
            "reference",
        ),
        (
            "  host CPU per job (no subscriber; subscriber)",
            f"{cpu['enttok']:.0f} us; {cpu['enttok_subscribed']:.0f} us",
            "",
            "",
            "reference",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="POST /jobs requests in flight")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each set-up")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    results = {"machine": machine_info(), "throughput": measure(args.jobs, args.concurrency, args.repeats)}
    for row in report(results["throughput"]):
        print(" | ".join(row))
    print(f"results: {save_results('throughput', results)}")


if __name__ == "__main__":
    main()
