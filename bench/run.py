"""Run every benchmark and print one table, with the machine and the date it ran on.

    uv run --group bench python bench/run.py [--runs 15] [--jobs 5000] [--repeats 5]

Also `GET /status` under load, `/events` latency and a `demo.sync` (status_load.py,
ws_latency.py, sync_bench.py), each with its own defaults.

The full results (every sample, not only the medians) go to bench/results/, which git ignores.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import coldstart
import status_load
import sync_bench
import throughput
import ws_latency
from common import exit_cleanly_on_sigterm, machine_info, save_results

HEADER = ("benchmark", "enttok", "baseline", "ratio", "target")


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as aligned, pipe-separated columns (also valid Markdown for the README)."""
    rows = [HEADER, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="cold starts of each server")
    parser.add_argument("--jobs", type=int, default=throughput.JOBS, help="jobs per throughput run")
    parser.add_argument(
        "--repeats", type=int, default=throughput.REPEATS, help="throughput runs of each set-up"
    )
    args = parser.parse_args()
    exit_cleanly_on_sigterm()

    machine = machine_info()
    print(f"enttok benchmarks, {machine['date']}")
    print(f"machine: {machine['nproc']} cores, {machine['cpu']}; Python {machine['python']}")
    print(f"platform: {machine['platform']}")
    print(f"cold start: {args.runs} starts of each server ...", file=sys.stderr, flush=True)
    cold = coldstart.measure(args.runs)
    print(f"throughput: {args.repeats} x {args.jobs} jobs on each side ...", file=sys.stderr, flush=True)
    jobs = throughput.measure(args.jobs, throughput.CONCURRENCY, args.repeats)
    print("status load: GET /status against the bare app ...", file=sys.stderr, flush=True)
    status = status_load.measure()
    print("event latency: /events against a bare WebSocket app ...", file=sys.stderr, flush=True)
    events = ws_latency.measure()
    print(
        f"sync: demo.sync of {sync_bench.ITEMS} items against a fetch loop ...", file=sys.stderr, flush=True
    )
    sync = sync_bench.measure()
    rows = [
        *coldstart.report(cold),
        *throughput.report(jobs),
        *status_load.report(status),
        *ws_latency.report(events),
        *sync_bench.report(sync),
    ]
    print(table(rows))
    results = {
        "machine": machine,
        "coldstart": cold,
        "throughput": jobs,
        "status_load": status,
        "ws_latency": events,
        "sync": sync,
    }
    path = save_results("all", results)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
