"""A Jira sync: `jira.sync` of ITEMS issues from the fake Jira Cloud (plugins/jira/tests/
fake_jira.py), against a plain loop that fetches the same issues through the same client.

The fake runs in this process on 127.0.0.1 and answers each search page after LATENCY (a
realistic 50 ms). Its issues are spread over the 30-day window, one every few minutes, each
with its changelog and comments. enttok: a fresh host with only the jira plugin and a Cloud
account pointing at the fake (its API token in the test keyring), one discarded warm-up sync
of a small account (so atlassian-python-api and requests are loaded, as after the app's
first sync), then a `jira.sync` of ITEMS issues in pages of PAGE, timed from `POST /jobs` to
`succeeded` (polled every POLL seconds). Each page is a fresh search from the minute the last
one ended on (see enttok_jira.sync), so the sync asks for a page or two more than ITEMS/PAGE.
The host's VmRSS is sampled every RSS_INTERVAL seconds during the sync; the figure is the
peak minus the RSS just before the submission, for SMALL and for ITEMS issues: peak memory
must not grow with the number of issues.

Baseline, in a process of its own (as the host is): atlassian-python-api's `Jira` on a plain requests session, the
same JQL over the window, following `nextPageToken` page after page and parsing each answer,
doing nothing with it (ITEMS/PAGE pages).

    uv run python bench/jira_bench.py [--items 10000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import httpx
from common import (
    ROOT,
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

sys.path.insert(0, str(ROOT / "plugins" / "jira" / "tests"))
from fake_jira import FakeJira

ITEMS = 10_000
SMALL = 2_000
"""The smaller sync whose memory the full one's is compared with."""
PAGE = 100
LATENCY = 0.05
SPACING = timedelta(minutes=4)
"""Between two issues' `updated`: 10,000 of them span 28 days, inside the 30-day window."""
REPEATS = 2
POLL = 0.01
RSS_INTERVAL = 0.05
SYNC_TIMEOUT = 600.0
SEARCH = "/rest/api/3/search/jql"
TARGET_RATE_RATIO = 0.9
"""enttok / fetch loop at 50 ms a page: the commit hidden behind the next fetch."""
TARGET_RSS_EXTRA_MIB = 5.0
"""How much more the peak may grow for ITEMS issues than for SMALL: noise, not a trend."""


def fake_jira(issues: int) -> FakeJira:
    fake = FakeJira(cloud=True)
    fake.add_issues(issues, spacing=SPACING)
    return fake


class RssSampler(threading.Thread):
    """VmRSS of `pid` every RSS_INTERVAL seconds until stopped; the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid = pid
        self.peak = rss_mib(pid)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(RSS_INTERVAL):
            self.peak = max(self.peak, rss_mib(self.pid))

    def stop(self) -> float:
        self.stopping.set()
        self.join()
        return max(self.peak, rss_mib(self.pid))


def sync_once(http: httpx.Client, account_id: str, fake: FakeJira) -> tuple[float, dict[str, Any]]:
    """Create the account, run one jira.sync of it; seconds from submit to succeeded, and its result."""
    response = http.post(
        "/plugins/jira/accounts", json={"account_id": account_id, "settings": fake.account_settings()}
    )
    response.raise_for_status()
    started = time.monotonic()
    response = http.post(
        "/jobs", json={"type": "jira.sync", "payload": {"account_id": account_id, "page_size": PAGE}}
    )
    response.raise_for_status()
    job_id = response.json()["job_id"]
    while time.monotonic() - started < SYNC_TIMEOUT:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] == "succeeded":
            return time.monotonic() - started, job["result"]
        if job["status"] in ("failed", "canceled"):
            raise RuntimeError(f"jira.sync ended {job['status']}: {job.get('error')}")
        time.sleep(POLL)
    raise TimeoutError(f"jira.sync did not succeed within {SYNC_TIMEOUT:g}s")


def run_enttok(items: int, base_env: dict[str, str]) -> dict[str, float]:
    with (
        fake_jira(items) as fake,
        fake_jira(PAGE // 2) as warmup,
        tempfile.TemporaryDirectory(prefix="enttok-bench-") as scratch,
    ):
        env = {
            **host_env(base_env, Path(scratch) / "data"),
            "ENTTOK_PLUGINS_ALLOW": "jira",
            "PYTHON_KEYRING_BACKEND": "enttok.testing.keyring_backend.FileKeyring",
            "ENTTOK_TEST_KEYRING": str(Path(scratch) / "keyring.json"),
        }
        with running(host_command(), env) as process:
            port = int(read_ready_line(process)["port"])
            headers = {"X-Backend-Token": TOKEN}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, trust_env=False) as http:
                sync_once(http, "warmup", warmup)
                rss_before = rss_mib(process.pid)
                cpu_before = cpu_seconds(process.pid)
                fake.page_delay = LATENCY
                sampler = RssSampler(process.pid)
                sampler.start()
                try:
                    seconds, result = sync_once(http, "bench", fake)
                finally:
                    peak = sampler.stop()
            cpu = cpu_seconds(process.pid) - cpu_before
    if result["fetched"] < items:
        raise RuntimeError(f"jira.sync fetched {result['fetched']} of {items} issues")
    return {
        "seconds": seconds,
        "items_per_sec": items / seconds,
        "pages": result["pages"],
        "host_cpu_ms_per_1000_items": cpu * 1000 / (items / 1000),
        "rss_growth_mib": peak - rss_before,
    }


def run_fetch_loop(items: int) -> dict[str, float]:
    """The loop runs in a process of its own, as the host does, so neither shares this
    process's interpreter (and its lock) with the fake."""
    with fake_jira(items) as fake:
        settings = fake.account_settings()
        since = (datetime.now(UTC) - timedelta(days=30, minutes=1)).astimezone(fake.zone)
        fake.page_delay = LATENCY
        loop = {"url": fake.url, "email": settings["email"], "since": f"{since:%Y-%m-%d %H:%M}"}
        done = subprocess.run(
            [sys.executable, __file__, "--fetch-loop", json.dumps(loop)],
            input=settings["token"],  # on stdin: a token never goes on a command line
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    figures = json.loads(done.stdout)
    if figures["fetched"] != items:
        raise RuntimeError(f"the fetch loop got {figures['fetched']} of {items} issues")
    return {
        "seconds": figures["seconds"],
        "items_per_sec": items / figures["seconds"],
        "pages": figures["pages"],
    }


def fetch_loop(loop: dict[str, str], token: str) -> dict[str, float]:
    """atlassian-python-api on a plain requests session: every page of the window's search."""
    import requests
    from atlassian import Jira

    from enttok_jira import INVOLVED
    from enttok_jira.client import FIELDS

    session = requests.Session()
    session.trust_env = False
    jira = Jira(
        loop["url"],
        username=loop["email"],
        password=token,
        cloud=True,
        api_version=3,
        session=session,
        advanced_mode=True,
        backoff_and_retry=False,
        retry_with_header=False,
    )
    jql = f'{INVOLVED} AND updated >= "{loop["since"]}" ORDER BY updated ASC'
    started = time.monotonic()
    next_page, fetched, pages = None, 0, 0
    while True:
        response = jira.enhanced_jql(
            jql, fields=FIELDS, nextPageToken=next_page, limit=PAGE, expand="changelog"
        )
        response.raise_for_status()
        body = response.json()
        fetched += len(body["issues"])
        pages += 1
        next_page = body.get("nextPageToken")
        if body.get("isLast") or not next_page:
            break
    seconds = time.monotonic() - started
    jira.close()
    return {"seconds": seconds, "fetched": fetched, "pages": pages}


def measure(items: int = ITEMS, repeats: int = REPEATS) -> dict[str, Any]:
    """Every set-up `repeats` times, interleaved; medians, and the worst RSS growth."""
    runs: dict[str, list[dict[str, float]]] = {"fetch_loop": [], "enttok": [], "enttok_small": []}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-pycache-") as pycache:
        base_env = python_env(Path(pycache))
        run_fetch_loop(PAGE)  # the SDK's imports, discarded
        for _ in range(max(1, repeats)):
            runs["fetch_loop"].append(run_fetch_loop(items))
            runs["enttok"].append(run_enttok(items, base_env))
            runs["enttok_small"].append(run_enttok(min(SMALL, items), base_env))
    rate = {kind: median(r["items_per_sec"] for r in values) for kind, values in runs.items()}
    growth = {kind: max(r["rss_growth_mib"] for r in runs[kind]) for kind in ("enttok", "enttok_small")}
    return {
        "items": items,
        "small": min(SMALL, items),
        "page": PAGE,
        "latency_ms": LATENCY * 1000,
        "repeats": max(1, repeats),
        "items_per_sec": rate,
        "seconds": {kind: median(r["seconds"] for r in values) for kind, values in runs.items()},
        "pages": {kind: values[0]["pages"] for kind, values in runs.items()},
        "rate_ratio": rate["enttok"] / rate["fetch_loop"],
        "host_cpu_ms_per_1000_items": median(r["host_cpu_ms_per_1000_items"] for r in runs["enttok"]),
        "rss_growth_mib": growth,
        "rss_extra_mib": growth["enttok"] - growth["enttok_small"],
        "targets": {"rate_ratio": TARGET_RATE_RATIO, "rss_extra_mib": TARGET_RSS_EXTRA_MIB},
        "runs": runs,
    }


def report(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rate, seconds, pages = results["items_per_sec"], results["seconds"], results["pages"]
    ratio, extra = results["rate_ratio"], results["rss_extra_mib"]
    growth = results["rss_growth_mib"]
    return [
        (
            f"jira.sync of {results['items']} issues, {results['latency_ms']:g} ms a page (median)",
            f"{rate['enttok']:.0f} issues/s ({seconds['enttok']:.2f} s, {pages['enttok']} pages)",
            f"{rate['fetch_loop']:.0f} issues/s (SDK fetch loop, {pages['fetch_loop']} pages)",
            ratio_text(ratio, TARGET_RATE_RATIO),
            f">= {TARGET_RATE_RATIO}x: {verdict(ratio >= TARGET_RATE_RATIO)}",
        ),
        (
            "  host CPU per 1,000 issues",
            f"{results['host_cpu_ms_per_1000_items']:.0f} ms",
            "",
            "",
            "reported",
        ),
        (
            f"  host peak RSS growth: {results['items']} issues against {results['small']} (max)",
            f"{growth['enttok']:.1f} MiB",
            f"{growth['enttok_small']:.1f} MiB",
            f"{extra:+.1f} MiB",
            f"< {TARGET_RSS_EXTRA_MIB:g} MiB more: {verdict(extra < TARGET_RSS_EXTRA_MIB)}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=ITEMS, help=f"issues to sync, in pages of {PAGE}")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each set-up")
    parser.add_argument("--fetch-loop", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args()
    if args.fetch_loop:
        print(json.dumps(fetch_loop(json.loads(args.fetch_loop), sys.stdin.read())))
        return
    exit_cleanly_on_sigterm()
    results = {"machine": machine_info(), "jira": measure(args.items, args.repeats)}
    for row in report(results["jira"]):
        print(" | ".join(row))
    print(f"results: {save_results('jira', results)}")


if __name__ == "__main__":
    main()
