"""Crash soak: submit jobs to a host that is SIGKILLed at random moments, then check nothing broke.

A host with only the `demo` plugin runs on a temporary data dir against fake demo APIs (one
`FakeUpstream` per account, on 127.0.0.1). Jobs (`demo.noop`, `demo.sleep`, `demo.sync`) are
submitted at a steady pace while a timer SIGKILLs the host at a seeded random moment; the host
is restarted on the same data dir and submission carries on, `--kills` times. Only jobs whose
`POST /jobs` answered 201 count as submitted. Between rounds every upstream gains new items,
so later syncs have new pages to fetch.

At the end the host is started once more and left to drain the queue, one last `demo.sync`
runs per account, and the script checks: every submitted job exists and `succeeded`;
`demo_items` holds exactly each upstream's items, none twice; every cursor in `sync_state` is
at most the highest `seq` stored for its account; `PRAGMA integrity_check` is ok. It exits 1
on any violation.

    uv run python bench/soak.py [--jobs 2000] [--kills 20] [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from enttok.testing import FakeUpstream
from enttok.testing.host import RunningHost, start_host
from enttok_demo.fake_api import ItemsApi, fake_upstream

TERMINAL = {"succeeded", "failed", "canceled"}


class Soak:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.data_dir = data_dir
        self.upstreams: dict[str, tuple[FakeUpstream, ItemsApi]] = {}
        self.host: RunningHost | None = None
        self.submitted: dict[str, str] = {}
        """job_id -> type, for every POST /jobs that answered 201."""
        self.in_flight_lost = 0
        """POSTs cut off by a kill: not counted (the job may or may not exist)."""
        self.refused: Counter[int] = Counter()
        self.kills = 0
        self.restarts = 0

    # -- the host

    def start(self) -> RunningHost:
        self.host = start_host(self.data_dir, plugins=["demo"], args=["--parent-watch"])
        self.restarts += 1
        return self.host

    def close(self) -> None:
        if self.host is not None:
            with contextlib.suppress(Exception):
                self.host.close()
        for upstream, _ in self.upstreams.values():
            with contextlib.suppress(Exception):
                upstream.stop()

    # -- set-up

    def create_accounts(self, host: RunningHost) -> None:
        for index in range(self.args.accounts):
            account_id = f"acct{index}"
            upstream, api = fake_upstream(count=self.args.items)
            upstream.start()
            self.upstreams[account_id] = (upstream, api)
            response = host.post(
                "/plugins/demo/accounts",
                json={
                    "account_id": account_id,
                    "settings": {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()},
                },
            )
            if response.status_code != 201:
                raise SystemExit(f"soak: could not create account {account_id}: {response.text}")

    def grow_upstreams(self) -> None:
        for _, api in self.upstreams.values():
            api.count += self.rng.randint(self.args.grow // 2, self.args.grow)

    # -- submission

    def next_job(self) -> tuple[str, dict[str, Any]]:
        roll = self.rng.random()
        if roll < 0.15:
            account_id = self.rng.choice(sorted(self.upstreams))
            return "demo.sync", {"account_id": account_id, "page_size": self.args.page_size}
        if roll < 0.40:
            return "demo.sleep", {"seconds": round(self.rng.uniform(0.2, 2.0), 3), "steps": 2}
        return "demo.noop", {}

    def submit_one(self, host: RunningHost, job_type: str, payload: dict[str, Any]) -> bool:
        """POST one job; True if it counts (201). Raises httpx.TransportError when cut off."""
        body: dict[str, Any] = {"type": job_type, "payload": payload}
        if self.args.dedupe_syncs and job_type == "demo.sync":
            body["dedupe_key"] = f"soak-sync:{payload['account_id']}"
        response = host.post("/jobs", json=body, timeout=10.0)
        if response.status_code == 201:
            self.submitted[response.json()["job_id"]] = job_type
            return True
        self.refused[response.status_code] += 1
        return False

    def run_round(self, host: RunningHost, quota: int, kill_after: float | None) -> None:
        """Submit up to `quota` jobs, paced over `kill_after` seconds, while a timer kills the host."""
        killed = threading.Event()

        def kill() -> None:
            host.kill()
            killed.set()

        timer = threading.Timer(kill_after, kill) if kill_after is not None else None
        started = time.monotonic()
        interval = (kill_after * 0.9 / quota) if (kill_after and quota) else 0.0
        if timer is not None:
            timer.start()
        try:
            done = 0
            pending = self.next_job()
            while done < quota and not killed.is_set():
                try:
                    if self.submit_one(host, *pending):
                        done += 1
                        pending = self.next_job()
                    elif pending[0] == "demo.sync" and self.args.dedupe_syncs:
                        pending = self.next_job()  # that account's sync is already queued or running
                    else:
                        time.sleep(0.05)  # refused (e.g. 429): back off a little, same job again
                except httpx.TransportError:
                    if host.process.poll() is None:
                        raise  # the host is alive: a real failure, not the kill
                    self.in_flight_lost += 1
                    break
                wake = started + (done + 1) * interval
                if (delay := wake - time.monotonic()) > 0:
                    killed.wait(delay)
        finally:
            if timer is not None:
                timer.join()
                self.kills += 1

    # -- the end

    def list_jobs(self, host: RunningHost, status: str) -> list[dict[str, Any]]:
        response = host.get("/jobs", params={"status": status, "limit": 5})
        response.raise_for_status()
        return response.json()["jobs"]

    def wait_drained(self, host: RunningHost, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.list_jobs(host, "queued") and not self.list_jobs(host, "running"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"jobs still queued or running after {timeout:.0f}s")

    def wait_job(self, host: RunningHost, job_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = host.job(job_id)
            if job["status"] in TERMINAL:
                return job
            time.sleep(0.1)
        raise TimeoutError(f"{job_id} not finished after {timeout:.0f}s")


def check(soak: Soak, final_syncs: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Read the stopped host's database; the violations and the figures."""
    violations: list[str] = []
    figures: dict[str, Any] = {}
    db = sqlite3.connect(soak.data_dir / "data" / "index.db")
    try:
        jobs = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in db.execute("SELECT job_id, type, status, attempt, error_json FROM jobs")
        }
        lost = [job_id for job_id in soak.submitted if job_id not in jobs]
        not_ok = {
            job_id: jobs[job_id]
            for job_id in soak.submitted
            if job_id in jobs and jobs[job_id][1] != "succeeded"
        }
        figures["lost"] = len(lost)
        figures["statuses"] = Counter(status for _, status, _, _ in jobs.values())
        figures["retried"] = sum(1 for job_id in soak.submitted if job_id in jobs and jobs[job_id][2] > 1)
        figures["unsubmitted_in_db"] = len(
            set(jobs) - set(soak.submitted) - {j["job_id"] for j in final_syncs.values()}
        )
        if lost:
            violations.append(f"{len(lost)} submitted jobs lost, e.g. {lost[:5]}")
        for job_id, (job_type, status, attempt, error) in list(not_ok.items())[:20]:
            violations.append(f"{job_id} ({job_type}) ended {status} after {attempt} attempts: {error}")
        if len(not_ok) > 20:
            violations.append(f"... and {len(not_ok) - 20} more jobs not succeeded")
        stuck = [job_id for job_id, (_, status, _, _) in jobs.items() if status not in TERMINAL]
        if stuck:
            violations.append(f"{len(stuck)} jobs still queued or running, e.g. {stuck[:5]}")
        for account_id, job in final_syncs.items():
            if job["status"] != "succeeded":
                violations.append(f"final sync of {account_id} ended {job['status']}: {job.get('error')}")

        duplicated = 0
        for account_id, (_, api) in sorted(soak.upstreams.items()):
            rows = [
                row[0]
                for row in db.execute("SELECT item_id FROM demo_items WHERE account_id = ?", (account_id,))
            ]
            expected = {f"item-{seq}" for seq in range(1, api.count + 1)}
            duplicated += len(rows) - len(set(rows))
            if len(rows) != len(set(rows)):
                violations.append(f"{account_id}: {len(rows) - len(set(rows))} duplicated demo_items rows")
            if set(rows) != expected:
                missing, extra = expected - set(rows), set(rows) - expected
                violations.append(
                    f"{account_id}: demo_items differs from upstream ({api.count} items):"
                    f" {len(missing)} missing, {len(extra)} extra"
                )
            (timeline,) = db.execute(
                "SELECT count(*) FROM activity_events WHERE source = 'demo' AND account_id = ?", (account_id,)
            ).fetchone()
            if timeline != api.count:
                violations.append(f"{account_id}: {timeline} timeline entries for {api.count} items")
        figures["duplicated"] = duplicated
        figures["items"] = {a: api.count for a, (_, api) in sorted(soak.upstreams.items())}

        cursors_ok = True
        for scope, cursor in db.execute("SELECT scope, cursor FROM sync_state WHERE connector = 'demo'"):
            (top,) = db.execute("SELECT max(seq) FROM demo_items WHERE account_id = ?", (scope,)).fetchone()
            if cursor is not None and (top is None or int(cursor) > top):
                cursors_ok = False
                violations.append(f"cursor of {scope} is {cursor}, ahead of the highest stored seq {top}")
        figures["cursors_ok"] = cursors_ok

        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        figures["integrity"] = integrity
        if integrity != "ok":
            violations.append(f"integrity_check: {integrity}")
        statuses = dict(db.execute("SELECT account_id, status FROM accounts WHERE plugin = 'demo'"))
        for account_id, status in statuses.items():
            if status != "active":
                violations.append(f"account {account_id} is {status}")
    finally:
        db.close()
    return violations, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs to submit in all (default 2000)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the host (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--accounts", type=int, default=5, help="demo accounts (default 5)")
    parser.add_argument("--items", type=int, default=300, help="upstream items per account at first")
    parser.add_argument("--grow", type=int, default=40, help="at most this many new items per round")
    parser.add_argument("--page-size", type=int, default=5, help="demo.sync page size (default 5)")
    parser.add_argument("--min-delay", type=float, default=2.0, help="shortest time before a kill (s)")
    parser.add_argument("--max-delay", type=float, default=12.0, help="longest time before a kill (s)")
    parser.add_argument(
        "--dedupe-syncs",
        action="store_true",
        help="give each account's syncs one dedupe_key, so no two syncs of an account run at once"
        " (works around the concurrent refresh-token race; a deduplicated POST is not counted)",
    )
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    print(
        f"soak: seed {args.seed}, {args.jobs} jobs, {args.kills} kills, {args.accounts} accounts", flush=True
    )
    began = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="enttok-soak-") as tmp:
        soak = Soak(args, Path(tmp) / "data")
        try:
            host = soak.start()
            soak.create_accounts(host)
            for round_no in range(args.kills):
                if round_no:
                    host = soak.start()
                    soak.grow_upstreams()
                remaining = args.jobs - len(soak.submitted)
                quota = -(-remaining // (args.kills - round_no))
                delay = soak.rng.uniform(args.min_delay, args.max_delay)
                soak.run_round(host, quota, delay)
                print(
                    f"  kill {soak.kills:2d} after {delay:4.1f}s: {len(soak.submitted):4d} jobs submitted",
                    flush=True,
                )
            host = soak.start()
            soak.grow_upstreams()
            leftover = args.jobs - len(soak.submitted)
            if leftover:
                soak.run_round(host, leftover, None)
            print(f"  final start: {len(soak.submitted)} jobs submitted, draining", flush=True)
            soak.wait_drained(host, timeout=300)
            final_jobs = {
                account_id: host.submit("demo.sync", {"account_id": account_id, "page_size": 100})
                for account_id in sorted(soak.upstreams)
            }
            final_syncs = {a: soak.wait_job(host, j, timeout=120) for a, j in final_jobs.items()}
            exit_code = host.stop()
            violations, figures = check(soak, final_syncs)
            if exit_code != 0:
                violations.append(f"the host exited {exit_code} on SIGTERM, not 0")
        finally:
            soak.close()

    elapsed = time.monotonic() - began
    print(f"  run time {elapsed:.0f}s; job statuses in the database: {dict(figures['statuses'])}")
    print(
        f"  {figures['retried']} jobs ran more than once (interrupted by a kill);"
        f" {soak.in_flight_lost} POSTs cut off by a kill (not counted),"
        f" {figures['unsubmitted_in_db']} of them reached the database; answers other than 201 (not counted): {dict(soak.refused) or 0}"
    )
    print(f"  upstream items per account at the end: {json.dumps(figures['items'])}")
    for violation in violations:
        print(f"  VIOLATION: {violation}")
    print(
        f"soak: {len(soak.submitted)} jobs, {soak.kills} kills survived, {figures['lost']} lost,"
        f" {figures['duplicated']} duplicated rows, cursors {'ok' if figures['cursors_ok'] else 'AHEAD'},"
        f" integrity {figures['integrity']}" + (f", {len(violations)} VIOLATIONS" if violations else "")
    )
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
