"""Event fan-out: does the queue keep its speed with 1, 10, 100 and 1,000 `/events` subscribers?

For each subscriber count and each kind of stream (a message per event, and batched:
`?batch=1`, arrays of events), a fresh host; a child process opens that many WebSocket clients
on `/events` (each reading and counting every event, as the app does) and says when all are
connected. Then JOBS `demo.noop` jobs are submitted over CONCURRENCY keep-alive connections
(rawhttp.py) while one more connection sends `GET /status` back to back, until the host's
database says every job succeeded; then until every subscriber has all the jobs' events (or
was dropped). Reported per run: POST /jobs per second, jobs completed per second, when every
event had reached every subscriber, the host's CPU time per job up to then (delivery
included; steadier on a shared machine, and free of the subscribers' own reading, which on 2
cores competes with the host), the median `/status` latency, and what the subscribers got
(events received, subscribers the host dropped as too slow). The baseline is the same run
with no subscriber at all, in the same invocation; the ratios are against it.

    uv run --group bench python bench/fanout.py [--jobs 5000] [--counts 0,1,10,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import rawhttp
from common import (
    PYTHON,
    TOKEN,
    cpu_seconds,
    exit_cleanly_on_sigterm,
    host_command,
    host_env,
    machine_info,
    python_env,
    read_ready_line,
    running,
    save_results,
)
from throughput import run_async, submit_all, wait_until_succeeded

JOBS = 5000
CONCURRENCY = 8
WARMUP_JOBS = 100
COUNTS = (0, 1, 10, 100, 1000)
EVENTS_PER_JOB = 3  # job.status queued, running, succeeded
DELIVERY_TIMEOUT = 300.0
TOO_SLOW = 1013  # the host's close code for a subscriber it dropped (api/stream.py)


# -- the subscribers, in a child process so their reading does not slow the load generator


async def subscribe(port: int, count: int, batch: bool) -> None:
    """Open `count` subscribers and print `ready`; then read from stdin how many events each
    is due, and once each has them (or the host closed it), print what they got."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    received = [0] * count
    reading = [True] * count
    closes: dict[str, int] = {}

    async def one(index: int, connected: asyncio.Future[None]) -> None:
        try:
            socket = await connect(
                f"ws://127.0.0.1:{port}/events?batch={int(batch)}",
                additional_headers={"X-Backend-Token": TOKEN},
                max_queue=None,
            )
        except BaseException as error:
            connected.set_exception(error)
            raise
        connected.set_result(None)
        async with socket:
            try:
                async for message in socket:
                    # Every event is an object whose first key is "seq": counted without
                    # parsing, so the subscribers take as little of the shared CPU as they can.
                    received[index] += message.count('{"seq":') if batch else 1
            except ConnectionClosed:
                pass
            reading[index] = False
            closes[str(socket.close_code)] = closes.get(str(socket.close_code), 0) + 1

    loop = asyncio.get_running_loop()
    tasks = []
    for index in range(count):  # one at a time: the host's listen backlog is not what is measured
        connected = loop.create_future()
        tasks.append(asyncio.create_task(one(index, connected)))
        await connected
    print("ready", flush=True)
    due = int(await loop.run_in_executor(None, sys.stdin.readline))
    deadline = loop.time() + DELIVERY_TIMEOUT
    while any(open_ and got < due for open_, got in zip(reading, received, strict=True)):
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.01)  # a poll of this process's own counters
    dropped = sum(n for code, n in closes.items() if code == str(TOO_SLOW))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"received": sum(received), "dropped_too_slow": dropped}), flush=True)


class Subscribers:
    def __init__(self, port: int, count: int, batch: bool) -> None:
        self.process = subprocess.Popen(
            [PYTHON, __file__, "--child", str(port), str(count), str(int(batch))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the subscribers did not connect: {line!r}")

    def wait_for(self, due: int) -> dict[str, int]:
        """Once every subscriber has `due` events or was closed, what they got."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{due}\n".encode())
        self.process.stdin.close()
        report = json.loads(self.process.stdout.readline())
        self.process.wait(30)
        return report


# -- the load


async def status_latencies(port: int, until: asyncio.Event) -> list[float]:
    request = rawhttp.build("GET", "/status", port, {"X-Backend-Token": TOKEN})
    connection = await rawhttp.Connection.open(port)
    latencies = []
    try:
        while not until.is_set():
            started = time.perf_counter()
            status, body = await connection.request(request)
            if status != 200:
                raise rawhttp.HttpError(f"GET /status answered {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - started)
    finally:
        await connection.close()
    return latencies


async def load(port: int, jobs: int) -> tuple[float, list[float]]:
    """Submit `jobs` while probing /status; the submit phase's seconds and the latencies."""
    done = asyncio.Event()
    probe = asyncio.create_task(status_latencies(port, done))
    started = time.monotonic()
    await submit_all(port, jobs, CONCURRENCY)
    elapsed = time.monotonic() - started
    done.set()
    return elapsed, await probe


def run_one(count: int, batch: bool, jobs: int, base_env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="enttok-fanout-") as data_dir:
        database = Path(data_dir) / "data" / "index.db"
        with running(host_command(), host_env(base_env, Path(data_dir))) as process:
            port = int(read_ready_line(process)["port"])
            run_async(submit_all(port, WARMUP_JOBS, CONCURRENCY))
            wait_until_succeeded(database, WARMUP_JOBS)
            subscribers = Subscribers(port, count, batch) if count else None
            cpu_before, started = cpu_seconds(process.pid), time.monotonic()
            submit_seconds, latencies = run_async(load(port, jobs))
            finished = wait_until_succeeded(database, WARMUP_JOBS + jobs)
            got = (
                subscribers.wait_for(EVENTS_PER_JOB * jobs)
                if subscribers
                else {"received": 0, "dropped_too_slow": 0}
            )
            delivered = time.monotonic()
            cpu = cpu_seconds(process.pid) - cpu_before
    return {
        "subscribers": count,
        "batch": batch,
        "submits_per_sec": jobs / submit_seconds,
        "jobs_per_sec": jobs / (finished - started),
        "delivered_after_s": delivered - started,
        "events_due": EVENTS_PER_JOB * jobs * count,
        "host_cpu_us_per_job": cpu / jobs * 1e6,
        "status_median_ms": median(latencies) * 1000,
        "status_requests": len(latencies),
        "events_received": got["received"],
        "dropped_too_slow": got["dropped_too_slow"],
    }


def measure(
    jobs: int = JOBS, counts: tuple[int, ...] = COUNTS, batches: tuple[bool, ...] = (False, True)
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="enttok-bench-") as scratch:
        base_env = python_env(Path(scratch) / "pycache")
        runs = [run_one(counts[0], False, jobs, base_env)]
        runs += [run_one(count, batch, jobs, base_env) for count in counts[1:] for batch in batches]
    baseline = runs[0]
    for run in runs:
        run["submits_ratio"] = run["submits_per_sec"] / baseline["submits_per_sec"]
        run["jobs_ratio"] = run["jobs_per_sec"] / baseline["jobs_per_sec"]
        run["status_ratio"] = run["status_median_ms"] / baseline["status_median_ms"]
    return {"jobs": jobs, "concurrency": CONCURRENCY, "runs": runs}


def report(results: dict[str, Any]) -> list[str]:
    lines = [
        "| subscribers | stream | POST /jobs per s | jobs done per s | all events delivered after"
        " | host CPU per job | /status median | events received | dropped |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        stream = "batched" if run["batch"] else "per event" if run["subscribers"] else "-"
        lines.append(
            f"| {run['subscribers']:,} | {stream} | {run['submits_per_sec']:.0f} ({run['submits_ratio']:.2f}x)"
            f" | {run['jobs_per_sec']:.0f} ({run['jobs_ratio']:.2f}x) | {run['delivered_after_s']:.2f} s"
            f" | {run['host_cpu_us_per_job']:.0f} us"
            f" | {run['status_median_ms']:.1f} ms ({run['status_ratio']:.2f}x)"
            f" | {run['events_received']:,} of {run['events_due']:,} | {run['dropped_too_slow']} |"
        )
    return lines


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(subscribe(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=JOBS, help="jobs per run")
    parser.add_argument(
        "--counts", default=",".join(map(str, COUNTS)), help="subscriber counts; the first is the baseline"
    )
    parser.add_argument("--streams", default="per-event,batched", help="the kinds of stream to measure")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    counts = tuple(int(n) for n in args.counts.split(","))
    results = {
        "machine": machine_info(),
        "fanout": measure(args.jobs, counts, tuple(kind == "batched" for kind in args.streams.split(","))),
    }
    print(
        f"fan-out: {args.jobs} demo.noop jobs per run, {CONCURRENCY} connections; ratios vs {counts[0]} subscribers"
    )
    for line in report(results["fanout"]):
        print(line)
    print(f"results: {save_results('fanout', results)}")


if __name__ == "__main__":
    main()
