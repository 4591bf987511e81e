"""Event-stream latency: `/events` of the enttok host under a steady event rate, against a bare
Starlette WebSocket app broadcasting as many JSON messages.

enttok: a fresh host, CLIENTS WebSocket clients on `/events`, and `demo.noop` jobs submitted
over HTTP at a steady RATE / 3 jobs a second (each job makes three events: queued, running,
succeeded), so about RATE events a second reach every client. The latency of an event is its
receive time (`time.time()` in the client, once the frame is read) minus its `at`, the
wall-clock time the host recorded it, just before the commit that makes it public: what the
host's stream adds between "it happened" and "the app knows". For reference, the time from a
job's `POST /jobs` being sent to its `job.status succeeded` arriving is reported too.

Baseline: `bare_ws_app.py` makes RATE messages a second, each stamped with the time it was
made, and broadcasts them to as many clients with the same `send_json`; the latency is the
receive time minus that stamp. Both use the same python, uvicorn and client code, on uvloop.

Each set-up: WARMUP seconds discarded, then `--seconds` measured; alternating `--repeats`
times; medians of the per-run percentiles.

    uv run --group bench python bench/ws_latency.py [--rate 2000] [--clients 10] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import rawhttp
from common import (
    BENCH_DIR,
    PYTHON,
    TOKEN,
    exit_cleanly_on_sigterm,
    free_port,
    host_command,
    host_env,
    machine_info,
    python_env,
    ratio_text,
    read_ready_line,
    running,
    save_results,
    verdict,
    wait_for_health,
)
from throughput import run_async
from websockets.asyncio.client import ClientConnection, connect

RATE = 2000
CLIENTS = 10
DURATION = 6.0
WARMUP = 2.0
DRAIN = 1.0
REPEATS = 2
SUBMITTERS = 8
EVENTS_PER_JOB = 3
TARGET_P99_RATIO = 2.0


def percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = quantiles(latencies, n=100)
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000, "max_ms": max(latencies) * 1000}


def epoch(at: str) -> float:
    """The host's `at` (`2026-01-05T09:00:00.123456Z`) as seconds since the epoch."""
    return datetime.fromisoformat(at[:-1] + "+00:00").timestamp()


class Clients:
    """CLIENTS WebSocket clients; each records the latency of every message that arrives while
    `measuring` is set, with `stamp(message)` giving the message's send time."""

    def __init__(self, sockets: list[ClientConnection], stamp: str) -> None:
        self.sockets = sockets
        self.stamp = stamp
        self.measuring = False
        self.latencies: list[float] = []
        self.received = 0
        self.submitted: dict[str, float] = {}
        """job_id -> when its POST /jobs was sent (enttok only)."""
        self.end_to_end: list[float] = []
        self.tasks = [asyncio.create_task(self.listen(socket)) for socket in sockets]

    async def listen(self, socket: ClientConnection) -> None:
        latencies, end_to_end, submitted = self.latencies, self.end_to_end, self.submitted
        host = self.stamp == "at"
        async for frame in socket:
            now = time.time()
            if not self.measuring:
                continue
            message = json.loads(frame)
            self.received += 1
            if host:
                latencies.append(now - epoch(message["at"]))
                if message.get("status") == "succeeded" and (sent := submitted.get(message["job_id"])):
                    end_to_end.append(now - sent)
            else:
                latencies.append(now - message["sent"])

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()
        for task in self.tasks:
            if task.done() and task.exception():
                raise RuntimeError("a WebSocket client failed") from task.exception()
            task.cancel()


async def open_clients(port: int, count: int, headers: dict[str, str], stamp: str) -> Clients:
    url = f"ws://127.0.0.1:{port}/events"
    sockets = [await connect(url, additional_headers=headers, open_timeout=10) for _ in range(count)]
    return Clients(sockets, stamp)


async def submit_steadily(port: int, jobs_per_sec: float, until: float, submitted: dict[str, float]) -> int:
    """POST demo.noop jobs at a steady rate until `until` (monotonic); how many."""
    request = rawhttp.build(
        "POST", "/jobs", port, {"X-Backend-Token": TOKEN}, {"type": "demo.noop", "payload": {}}
    )
    counter = itertools.count()
    started = time.monotonic()
    done = 0

    async def submitter() -> None:
        nonlocal done
        connection = await rawhttp.Connection.open(port)
        try:
            for index in counter:
                due = started + index / jobs_per_sec
                if due >= until:
                    return
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                sent = time.time()
                status, body = await connection.request(request)
                if status != 201:
                    raise rawhttp.HttpError(f"POST /jobs answered {status}: {body[:200]!r}")
                submitted[json.loads(body)["job_id"]] = sent
                done += 1
        finally:
            await connection.close()

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return done


async def run_enttok_clients(port: int, rate: float, clients: int, seconds: float) -> dict[str, Any]:
    listeners = await open_clients(port, clients, {"X-Backend-Token": TOKEN}, "at")
    try:
        start = time.monotonic()
        submitting = asyncio.create_task(
            submit_steadily(port, rate / EVENTS_PER_JOB, start + WARMUP + seconds, listeners.submitted)
        )
        await asyncio.sleep(WARMUP)
        listeners.measuring = True
        measured_from = time.monotonic()
        jobs = await submitting
        measured = time.monotonic() - measured_from  # the events of the jobs sent in it arrive by DRAIN
        await asyncio.sleep(DRAIN)
        listeners.measuring = False
    finally:
        await listeners.close()
    return {
        "jobs": jobs,
        "events_per_sec_per_client": listeners.received / clients / measured,
        **percentiles(listeners.latencies),
        "submit_to_succeeded": percentiles(listeners.end_to_end),
    }


async def run_bare_clients(port: int, clients: int, seconds: float) -> dict[str, Any]:
    listeners = await open_clients(port, clients, {}, "sent")
    try:
        await asyncio.sleep(WARMUP)
        listeners.measuring = True
        await asyncio.sleep(seconds)
        listeners.measuring = False
    finally:
        await listeners.close()
    return {
        "events_per_sec_per_client": listeners.received / clients / seconds,
        **percentiles(listeners.latencies),
    }


def run_enttok(rate: float, clients: int, seconds: float, base_env: dict[str, str]) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="enttok-bench-") as data_dir,
        running(host_command(), host_env(base_env, Path(data_dir))) as process,
    ):
        port = int(read_ready_line(process)["port"])
        return run_async(run_enttok_clients(port, rate, clients, seconds))


def run_bare(rate: float, clients: int, seconds: float, base_env: dict[str, str]) -> dict[str, Any]:
    port = free_port()
    args = [PYTHON, str(BENCH_DIR / "bare_ws_app.py"), "--port", str(port), "--rate", str(rate)]
    with running(args, base_env) as process:
        wait_for_health(process, port)
        return run_async(run_bare_clients(port, clients, seconds))


def measure(
    rate: float = RATE, clients: int = CLIENTS, seconds: float = DURATION, repeats: int = REPEATS
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"enttok": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-pycache-") as pycache:
        base_env = python_env(Path(pycache))
        run_bare(rate, 1, 0.1, base_env)  # warm-up: fills the bytecode cache, discarded
        for round_ in range(max(1, repeats)):
            order = ("enttok", "bare") if round_ % 2 == 0 else ("bare", "enttok")
            for kind in order:
                run = run_enttok if kind == "enttok" else run_bare
                runs[kind].append(run(rate, clients, seconds, base_env))
    p99 = {kind: median(r["p99_ms"] for r in values) for kind, values in runs.items()}
    p50 = {kind: median(r["p50_ms"] for r in values) for kind, values in runs.items()}
    delivered = {
        kind: median(r["events_per_sec_per_client"] for r in values) for kind, values in runs.items()
    }
    return {
        "rate": rate,
        "clients": clients,
        "seconds": seconds,
        "repeats": len(runs["enttok"]),
        "p99_ms": p99,
        "p50_ms": p50,
        "events_per_sec_per_client": delivered,
        "submit_to_succeeded_p99_ms": median(r["submit_to_succeeded"]["p99_ms"] for r in runs["enttok"]),
        "p99_ratio": p99["enttok"] / p99["bare"],
        "runs": runs,
        "targets": {"p99_ratio": TARGET_P99_RATIO},
    }


def report(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    p99, p50, rate = results["p99_ms"], results["p50_ms"], results["events_per_sec_per_client"]
    ratio = results["p99_ratio"]
    return [
        (
            f"/events p99, {results['clients']} clients, ~{results['rate']:g} ev/s",
            f"{p99['enttok']:.1f} ms",
            f"{p99['bare']:.1f} ms (bare WS)",
            ratio_text(ratio, TARGET_P99_RATIO),
            f"<= {TARGET_P99_RATIO:g}x: {verdict(ratio <= TARGET_P99_RATIO)}",
        ),
        (
            "  same, p50; events/s each client got",
            f"{p50['enttok']:.1f} ms; {rate['enttok']:.0f}/s",
            f"{p50['bare']:.1f} ms; {rate['bare']:.0f}/s",
            f"{p50['enttok'] / p50['bare']:.2f}x",
            "reference",
        ),
        (
            "  POST /jobs sent to job.status succeeded, p99",
            f"{results['submit_to_succeeded_p99_ms']:.1f} ms",
            "",
            "",
            "reference",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=RATE, help="events per second to every client")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="WebSocket clients")
    parser.add_argument("--seconds", type=float, default=DURATION, help="measured seconds per run")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each set-up, alternating")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    results = {
        "machine": machine_info(),
        "ws_latency": measure(args.rate, args.clients, args.seconds, args.repeats),
    }
    for row in report(results["ws_latency"]):
        print(" | ".join(row))
    print(f"results: {save_results('ws_latency', results)}")


if __name__ == "__main__":
    main()
