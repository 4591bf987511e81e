"""A connector sync: `demo.sync` of ITEMS items from the demo fake upstream, against a loop that
only fetches the same pages, and against dlt loading the same pages (dlt_peer.py).

The fake (enttok.testing's FakeUpstream with the demo items API) runs in this process on
127.0.0.1 and answers each page after LATENCIES: 0 ms (the host's own cost laid bare) and a
realistic 50 ms (a real API's round trip, behind which the host should hide its commits).
enttok: a fresh host with a demo account pointing at it (refresh token in the test keyring,
`enttok.testing.keyring_backend.FileKeyring`), one discarded warm-up sync of a one-page account
(so the lazily imported connector and its HTTP client are loaded, as after the app's first
sync), then a `demo.sync` of ITEMS items in pages of PAGE, timed from sending `POST /jobs` to
the job's `succeeded` (polled every POLL seconds). Meanwhile the host's VmRSS is sampled every
RSS_INTERVAL seconds (the figure is the peak minus the RSS just before the submission) and its
CPU time is read before and after (reported per 1,000 items). The sync does what a connector
does per page: OAuth refresh once, fetch, upsert the rows and timeline entries, commit the
cursor with them, report progress.

Baselines, in this process: an httpx AsyncClient that gets an access token from the fake's
`/oauth/token` and fetches the same pages one after another, doing nothing with them; and dlt's
REST API source loading the same pages, merged by id, into SQLite and into DuckDB. The fake
shares this process with the baselines (and not with the host), which slows them a little: the
ratios are, if anything, flattering to enttok.

    uv run --group bench python bench/sync_bench.py [--items 10000] [--repeats 2] [--no-dlt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import rawhttp
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
    rss_mib,
    running,
    save_results,
    verdict,
)
from dlt_peer import run_dlt
from throughput import run_async

from enttok.testing import FakeUpstream
from enttok_demo.fake_api import fake_upstream

ITEMS = 10_000
PAGE = 100
LATENCIES = (0.0, 0.05)
"""Seconds the fake waits before answering each page."""
DLT_DESTINATIONS = ("sqlite", "duckdb")
REPEATS = 2
POLL = 0.01
RSS_INTERVAL = 0.05
SYNC_TIMEOUT = 120.0
TARGET_RATE_RATIO = 0.7
"""enttok / fetch loop with no latency: the host's own cost per page, which a real API hides."""
TARGET_RATE_RATIO_AT_LATENCY = 0.95
"""enttok / fetch loop at 50 ms a page: the commit hidden behind the next fetch."""
TARGET_DLT_RATIO = 1.0
TARGET_RSS_GROWTH_MIB = 20.0


class RssSampler(threading.Thread):
    """VmRSS of `pid` every RSS_INTERVAL seconds until stopped; the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid = pid
        self.peak = rss_mib(pid)
        self.samples = 1
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(RSS_INTERVAL):
            self.peak = max(self.peak, rss_mib(self.pid))
            self.samples += 1

    def stop(self) -> float:
        self.stopping.set()
        self.join()
        self.peak = max(self.peak, rss_mib(self.pid))
        return self.peak


async def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    connection = await rawhttp.Connection.open(port)
    try:
        status, raw = await connection.request(
            rawhttp.build(method, path, port, {"X-Backend-Token": TOKEN}, body)
        )
    finally:
        await connection.close()
    return status, json.loads(raw) if raw else None


async def sync_once(port: int, account_id: str, upstream_url: str, refresh_token: str) -> float:
    """Create the account, run one demo.sync of it; seconds from submit to succeeded."""
    settings = {"base_url": upstream_url, "refresh_token": refresh_token}
    status, body = await call(
        port, "POST", "/plugins/demo/accounts", {"account_id": account_id, "settings": settings}
    )
    if status != 201:
        raise RuntimeError(f"creating the demo account answered {status}: {body}")
    started = time.monotonic()
    status, body = await call(
        port, "POST", "/jobs", {"type": "demo.sync", "payload": {"account_id": account_id, "page_size": PAGE}}
    )
    if status != 201:
        raise RuntimeError(f"POST /jobs demo.sync answered {status}: {body}")
    job_id = body["job_id"]
    connection = await rawhttp.Connection.open(port)
    request = rawhttp.build("GET", f"/jobs/{job_id}", port, {"X-Backend-Token": TOKEN})
    try:
        while time.monotonic() - started < SYNC_TIMEOUT:
            status, raw = await connection.request(request)
            job = json.loads(raw)
            if job["status"] == "succeeded":
                return time.monotonic() - started
            if job["status"] in ("failed", "canceled") or job.get("error"):
                raise RuntimeError(f"demo.sync ended {job['status']}: {job.get('error')}")
            await asyncio.sleep(POLL)
    finally:
        await connection.close()
    raise TimeoutError(f"demo.sync did not succeed within {SYNC_TIMEOUT:g}s")


def delay_pages(upstream: FakeUpstream, latency: float, items: int) -> None:
    """Make the fake answer each of the next pages after `latency` seconds."""
    if latency > 0:
        upstream.slow(latency, times=items // PAGE + 2, path="/items")


def run_enttok(items: int, latency: float, base_env: dict[str, str], run: int) -> dict[str, float]:
    upstream, _ = fake_upstream(items)
    warmup_upstream, _ = fake_upstream(PAGE)
    with upstream, warmup_upstream, tempfile.TemporaryDirectory(prefix="enttok-bench-") as scratch:
        env = {
            **host_env(base_env, Path(scratch) / "data"),
            "PYTHON_KEYRING_BACKEND": "enttok.testing.keyring_backend.FileKeyring",
            "ENTTOK_TEST_KEYRING": str(Path(scratch) / "keyring.json"),
        }
        with running(host_command(), env) as process:
            port = int(read_ready_line(process)["port"])
            rss_started = rss_mib(process.pid)
            run_async(sync_once(port, "warmup", warmup_upstream.url, warmup_upstream.new_refresh_token()))
            rss_before = rss_mib(process.pid)
            cpu_before = cpu_seconds(process.pid)
            delay_pages(upstream, latency, items)
            sampler = RssSampler(process.pid)
            sampler.start()
            try:
                seconds = run_async(
                    sync_once(port, f"bench{run}", upstream.url, upstream.new_refresh_token())
                )
            finally:
                peak = sampler.stop()
            cpu = cpu_seconds(process.pid) - cpu_before
            pages = len(upstream.requests_to("/items"))
    return {
        "seconds": seconds,
        "items_per_sec": items / seconds,
        "pages": pages,
        "host_cpu_ms_per_1000_items": cpu * 1000 / (items / 1000),
        "rss_before_mib": rss_before,
        "rss_peak_mib": peak,
        "rss_growth_mib": peak - rss_before,
        "rss_growth_from_start_mib": peak - rss_started,
        "rss_samples": sampler.samples,
    }


async def fetch_pages(url: str, refresh_token: str) -> tuple[int, int]:
    """Token, then every page in order, as the connector pages; (items, pages)."""
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as http:
        response = await http.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        after, items, pages = 0, 0, 0
        while True:
            response = await http.get("/items", params={"after": after, "limit": PAGE}, headers=headers)
            response.raise_for_status()
            body = response.json()
            pages += 1
            items += len(body["items"])
            if body["items"]:
                after = body["items"][-1]["seq"]
            if not body["has_more"]:
                return items, pages


def run_fetch_loop(items: int, latency: float) -> dict[str, float]:
    upstream, _ = fake_upstream(items)
    with upstream:
        run_async(fetch_pages(upstream.url, upstream.new_refresh_token()))  # warm-up, discarded
        delay_pages(upstream, latency, items)
        started = time.monotonic()
        fetched, pages = run_async(fetch_pages(upstream.url, upstream.new_refresh_token()))
        seconds = time.monotonic() - started
    if fetched != items:
        raise RuntimeError(f"the fetch loop got {fetched} of {items} items")
    return {"seconds": seconds, "items_per_sec": items / seconds, "pages": pages}


def run_dlt_peer(items: int, latency: float, destination: str) -> dict[str, float]:
    upstream, _ = fake_upstream(items)
    with upstream:
        delay_pages(upstream, latency, items)
        loaded = run_dlt(upstream.url, upstream.new_refresh_token(), destination)
    if loaded["loaded"] != items:
        raise RuntimeError(f"dlt loaded {loaded['loaded']} of {items} items into {destination}")
    return {"seconds": loaded["seconds"], "items_per_sec": items / loaded["seconds"]}


def measure(items: int = ITEMS, repeats: int = REPEATS, with_dlt: bool = True) -> dict[str, Any]:
    """Each latency: every set-up `repeats` times, interleaved; medians, worst RSS."""
    peers = [f"dlt_{destination}" for destination in DLT_DESTINATIONS] if with_dlt else []
    if with_dlt:
        run_dlt_peer(PAGE, 0.0, "sqlite")  # dlt's lazy imports, discarded
    by_latency: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-pycache-") as pycache:
        base_env = python_env(Path(pycache))
        for latency in LATENCIES:
            runs: dict[str, list[dict[str, float]]] = {
                "enttok": [],
                "fetch_loop": [],
                **{p: [] for p in peers},
            }
            for run in range(max(1, repeats)):
                runs["fetch_loop"].append(run_fetch_loop(items, latency))
                runs["enttok"].append(run_enttok(items, latency, base_env, run))
                for peer in peers:
                    runs[peer].append(run_dlt_peer(items, latency, peer.removeprefix("dlt_")))
            rate = {kind: median(r["items_per_sec"] for r in values) for kind, values in runs.items()}
            by_latency[f"{latency * 1000:g}ms"] = {
                "latency_ms": latency * 1000,
                "items_per_sec": rate,
                "seconds": {kind: median(r["seconds"] for r in values) for kind, values in runs.items()},
                "rate_ratio": rate["enttok"] / rate["fetch_loop"],
                "dlt_ratio": {peer: rate["enttok"] / rate[peer] for peer in peers},
                "host_cpu_ms_per_1000_items": median(r["host_cpu_ms_per_1000_items"] for r in runs["enttok"]),
                "rss_growth_mib": max(r["rss_growth_mib"] for r in runs["enttok"]),
                "rss_growth_from_start_mib": max(r["rss_growth_from_start_mib"] for r in runs["enttok"]),
                "runs": runs,
            }
    return {
        "items": items,
        "page": PAGE,
        "repeats": max(1, repeats),
        "latencies": by_latency,
        "targets": {
            "rate_ratio": TARGET_RATE_RATIO,
            "rate_ratio_at_latency": TARGET_RATE_RATIO_AT_LATENCY,
            "dlt_ratio": TARGET_DLT_RATIO,
            "rss_growth_mib": TARGET_RSS_GROWTH_MIB,
        },
    }


def report(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for figures in results["latencies"].values():
        latency = figures["latency_ms"]
        rate, seconds, ratio = figures["items_per_sec"], figures["seconds"], figures["rate_ratio"]
        target = TARGET_RATE_RATIO_AT_LATENCY if latency else TARGET_RATE_RATIO
        rows.append(
            (
                f"demo.sync of {results['items']} items, {latency:g} ms a page (median)",
                f"{rate['enttok']:.0f} items/s ({seconds['enttok']:.2f} s)",
                f"{rate['fetch_loop']:.0f} items/s (httpx fetch loop)",
                ratio_text(ratio, target),
                f">= {target}x: {verdict(ratio >= target)}",
            )
        )
        for peer, peer_ratio in figures["dlt_ratio"].items():
            rows.append(
                (
                    f"  against {peer.replace('_', ' into ')}",
                    "",
                    f"{rate[peer]:.0f} items/s ({seconds[peer]:.2f} s)",
                    ratio_text(peer_ratio, TARGET_DLT_RATIO),
                    f"> {TARGET_DLT_RATIO:g}x: {verdict(peer_ratio > TARGET_DLT_RATIO)}",
                )
            )
        rows.append(
            (
                "  host CPU per 1,000 items",
                f"{figures['host_cpu_ms_per_1000_items']:.0f} ms",
                "",
                "",
                "reported",
            )
        )
        for what, key in (
            ("host peak RSS growth during the sync (max)", "rss_growth_mib"),
            ("same, counted from before the first sync", "rss_growth_from_start_mib"),
        ):
            growth = figures[key]
            rows.append(
                (
                    f"  {what}",
                    f"{growth:.1f} MiB",
                    "",
                    "",
                    f"< {TARGET_RSS_GROWTH_MIB:g} MiB: {verdict(growth < TARGET_RSS_GROWTH_MIB)}",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS, help=f"items to sync, in pages of {PAGE}")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each set-up")
    parser.add_argument("--no-dlt", action="store_true", help="leave out the dlt peers (no bench group)")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    results = {"machine": machine_info(), "sync": measure(args.items, args.repeats, not args.no_dlt)}
    for row in report(results["sync"]):
        print(" | ".join(row))
    print(f"results: {save_results('sync', results)}")


if __name__ == "__main__":
    main()
