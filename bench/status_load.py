"""`GET /status` under load: the enttok host against the bare app's one route.

CONCURRENCY keep-alive connections (rawhttp.py, one request in flight on each) send requests
back to back for DURATION seconds, after a second of warm-up; the result is requests per
second and the 99th percentile of the per-request latency (write to full response, seen by
the client). enttok answers `GET /status` with the token (queue depth, workers, scheduler,
plugins: the route the desktop app polls); the baseline is `bare_app.py`'s one route,
`GET /health`, under the same load. Both servers run with the same python and uvicorn; the
set-ups alternate `--repeats` times on the same two servers and medians are reported.

    uv run --group bench python bench/status_load.py [--seconds 5] [--concurrency 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
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

DURATION = 5.0
WARMUP = 1.0
CONCURRENCY = 32
REPEATS = 3
TARGET_RATE_RATIO = 0.6
TARGET_P99_RATIO = 2.0


async def load(port: int, request: bytes, seconds: float, concurrency: int) -> dict[str, float]:
    """Send `request` over `concurrency` connections for `seconds`; req/s and latency."""
    latencies: list[float] = []
    deadline = 0.0

    async def client_loop(connection: rawhttp.Connection) -> None:
        clock = time.perf_counter
        while (sent := clock()) < deadline:
            status, body = await connection.request(request)
            if status != 200:
                raise rawhttp.HttpError(f"answered {status}: {body[:200]!r}")
            latencies.append(clock() - sent)

    connections = [await rawhttp.Connection.open(port) for _ in range(concurrency)]
    try:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client_loop(connection) for connection in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    cuts = quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "req_per_sec": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


@contextlib.contextmanager
def servers(base_env: dict[str, str], data_dir: Path) -> Iterator[dict[str, tuple[int, bytes]]]:
    """Both servers, running; for each, its port and the request that loads it."""
    with running(host_command(), host_env(base_env, data_dir)) as host:
        host_port = int(read_ready_line(host)["port"])
        bare_port = free_port()
        with running([PYTHON, str(BENCH_DIR / "bare_app.py"), "--port", str(bare_port)], base_env) as bare:
            wait_for_health(bare, bare_port)
            yield {
                "enttok": (host_port, rawhttp.build("GET", "/status", host_port, {"X-Backend-Token": TOKEN})),
                "bare": (bare_port, rawhttp.build("GET", "/health", bare_port, {})),
            }


def measure(
    seconds: float = DURATION, concurrency: int = CONCURRENCY, repeats: int = REPEATS
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"enttok": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-") as scratch:
        base_env = python_env(Path(scratch) / "pycache")
        with servers(base_env, Path(scratch) / "data") as targets:
            for round_ in range(max(1, repeats)):
                order = ("enttok", "bare") if round_ % 2 == 0 else ("bare", "enttok")
                for kind in order:
                    port, request = targets[kind]
                    run_async(load(port, request, WARMUP, concurrency))
                    runs[kind].append(run_async(load(port, request, seconds, concurrency)))
    rate = {kind: median(r["req_per_sec"] for r in values) for kind, values in runs.items()}
    p99 = {kind: median(r["p99_ms"] for r in values) for kind, values in runs.items()}
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "repeats": len(runs["enttok"]),
        "req_per_sec": rate,
        "p99_ms": p99,
        "rate_ratio": rate["enttok"] / rate["bare"],
        "p99_ratio": p99["enttok"] / p99["bare"],
        "runs": runs,
        "targets": {"rate_ratio": TARGET_RATE_RATIO, "p99_ratio": TARGET_P99_RATIO},
    }


def report(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rate, p99 = results["req_per_sec"], results["p99_ms"]
    rate_ratio, p99_ratio = results["rate_ratio"], results["p99_ratio"]
    load_text = f"{results['concurrency']} conns"
    return [
        (
            f"GET /status, {load_text}: req/s (median)",
            f"{rate['enttok']:.0f} req/s",
            f"{rate['bare']:.0f} req/s (bare /health)",
            ratio_text(rate_ratio, TARGET_RATE_RATIO),
            f">= {TARGET_RATE_RATIO}x: {verdict(rate_ratio >= TARGET_RATE_RATIO)}",
        ),
        (
            f"GET /status, {load_text}: p99 latency",
            f"{p99['enttok']:.1f} ms",
            f"{p99['bare']:.1f} ms (bare /health)",
            ratio_text(p99_ratio, TARGET_P99_RATIO),
            f"<= {TARGET_P99_RATIO:g}x: {verdict(p99_ratio <= TARGET_P99_RATIO)}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=DURATION, help="measured seconds per run")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="keep-alive connections")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each server, alternating")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    results = {
        "machine": machine_info(),
        "status_load": measure(args.seconds, args.concurrency, args.repeats),
    }
    for row in report(results["status_load"]):
        print(" | ".join(row))
    print(f"results: {save_results('status_load', results)}")


if __name__ == "__main__":
    main()
