"""Cold start and idle memory: the enttok host against a bare Starlette + uvicorn app.

Cold start is the time from spawning the process to its first `200` on `GET /health`: what
the desktop app waits for before it can show anything. The first accepted job is the time
from spawning to the `201` of a `demo.noop` job submitted as soon as `/health` answered, as
the app does: it includes the first `POST /jobs` (its models built on first use) and is
compared with the bare app's `/health`, the floor of any first answer. Idle RSS is VmRSS once `/health` has
answered and the process has sat idle for a second: what the host costs while nothing runs.

A second baseline, the bare app with pydantic imported and one model declared
(`bare_app.py --pydantic`), shows how much of the gap is pydantic itself: every plugin
declares its payloads as pydantic models, so no host of plugins can answer before it loads.

The servers start the same way (same python, same uvicorn, a known free port on 127.0.0.1,
probed every millisecond), alternating and in flipped order each round, so drift on the
machine hits both. One discarded warm-up start each fills the OS page cache and lets the host
create its database, so every measured host start opens an existing database as the app does.
The warm-up also compiles both servers' modules into a fresh bytecode cache that later starts
read, as on an installed machine (`--bytecode-as-is` measures with this shell's settings).

    uv run --group bench python bench/coldstart.py [--runs 15] [--bytecode-as-is]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from common import (
    BENCH_DIR,
    LOOPBACK,
    PYTHON,
    TOKEN,
    exit_cleanly_on_sigterm,
    free_port,
    host_command,
    host_env,
    machine_info,
    python_env,
    ratio_text,
    rss_mib,
    running,
    save_results,
    verdict,
    wait_for_health,
)

IDLE_BEFORE_RSS = 1.0
TARGET_START_RATIO = 1.5
"""Issue 9: /health at 1.5x the bare app, every first-party plugin installed (below the pydantic floor)."""
TARGET_RSS_RATIO = 1.4
TARGET_FIRST_JOB_RATIO = 1.5
TARGET_PLUGINS_RATIO = 1.1
"""Issues 10, 11: every first-party plugin installed costs at most 1.1x the host with only the demo."""
DEMO_ONLY = "enttok, demo only"
FIRST_JOB = json.dumps({"type": "demo.noop", "payload": {}}).encode()


@dataclass
class Sample:
    start_ms: float
    idle_rss_mib: float
    start_cpu_ms: float
    first_job_ms: float | None = None
    first_job_cpu_ms: float | None = None


def cpu_ms(pid: int) -> float:
    """CPU time the process has run so far, all its threads, from the scheduler's own
    nanosecond counters (`/proc/<pid>/task/*/schedstat`): steadier than wall time on a
    shared machine, where a start also waits for a free core."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e6


def submit_status(port: int, body: bytes = FIRST_JOB, timeout: float = 5.0) -> int | None:
    """HTTP status of one `POST /jobs` with the bench token, on a raw socket like the probe."""
    request = (
        f"POST /jobs HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nX-Backend-Token: {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
            connection.sendall(request)
            head = connection.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def start_once(kind: str, base_env: dict[str, str], data_dir: Path) -> Sample:
    """Spawn one server, time it to its first 200 on /health, read its idle RSS, stop it."""
    port = free_port()
    if kind == "enttok":
        args, env = host_command(), host_env(base_env, data_dir, port)
    elif kind == DEMO_ONLY:  # the other plugins stay installed, but none of them is imported
        args, env = host_command(), {**host_env(base_env, data_dir, port), "ENTTOK_PLUGINS_ALLOW": "demo"}
    else:
        args, env = [PYTHON, str(BENCH_DIR / "bare_app.py"), "--port", str(port)], base_env
        if kind == "bare+pydantic":
            args.append("--pydantic")
    spawned = time.monotonic()
    with running(args, env) as process:
        answered = wait_for_health(process, port)
        start_cpu_ms = cpu_ms(process.pid)
        first_job_ms = first_job_cpu_ms = None
        if kind == "enttok":
            if (status := submit_status(port)) != 201:
                raise RuntimeError(f"the first POST /jobs answered {status}, not 201")
            first_job_ms = (time.monotonic() - spawned) * 1000
            first_job_cpu_ms = cpu_ms(process.pid)
        time.sleep(IDLE_BEFORE_RSS)
        return Sample(
            (answered - spawned) * 1000, rss_mib(process.pid), start_cpu_ms, first_job_ms, first_job_cpu_ms
        )


def measure(runs: int, bytecode_cache: bool = True) -> dict[str, object]:
    """`runs` alternating starts of each server after one warm-up each; medians and ratios."""
    runs = max(1, runs)
    samples: dict[str, list[Sample]] = {"enttok": [], DEMO_ONLY: [], "bare": [], "bare+pydantic": []}
    with tempfile.TemporaryDirectory(prefix="enttok-bench-") as scratch:
        data_dir, pycache = Path(scratch) / "data", Path(scratch) / "pycache"
        base_env = python_env(pycache if bytecode_cache else None)
        for kind in samples:
            start_once(kind, base_env, data_dir)  # warm-up, discarded
        kinds = list(samples)
        for round_ in range(runs):
            for kind in kinds if round_ % 2 == 0 else reversed(kinds):
                samples[kind].append(start_once(kind, base_env, data_dir))
    start = {kind: median([s.start_ms for s in values]) for kind, values in samples.items()}
    rss = {kind: median([s.idle_rss_mib for s in values]) for kind, values in samples.items()}
    first_job = [s.first_job_ms for s in samples["enttok"] if s.first_job_ms is not None]
    first_job_ms = median(first_job)
    cpu = {kind: median([s.start_cpu_ms for s in values]) for kind, values in samples.items()}
    first_job_cpu_ms = median(
        [s.first_job_cpu_ms for s in samples["enttok"] if s.first_job_cpu_ms is not None]
    )
    return {
        "runs": runs,
        "bytecode_cache": bytecode_cache,
        "start_ms": start,
        "start_ratio": start["enttok"] / start["bare"],
        "start_ratio_to_pydantic": start["enttok"] / start["bare+pydantic"],
        "start_ms_all": {kind: [round(s.start_ms, 1) for s in values] for kind, values in samples.items()},
        "first_job_ms": first_job_ms,
        "first_job_ratio": first_job_ms / start["bare"],
        "first_job_ratio_to_pydantic": first_job_ms / start["bare+pydantic"],
        "first_job_ms_all": [round(ms, 1) for ms in first_job],
        "cpu_ms": {**cpu, "enttok first job": first_job_cpu_ms},
        "cpu_ratio": cpu["enttok"] / cpu["bare"],
        "first_job_cpu_ratio": first_job_cpu_ms / cpu["bare"],
        "cpu_ms_all": {kind: [round(s.start_cpu_ms, 1) for s in values] for kind, values in samples.items()},
        "rss_mib": rss,
        "rss_ratio": rss["enttok"] / rss["bare"],
        "rss_ratio_to_pydantic": rss["enttok"] / rss["bare+pydantic"],
        "plugins_start_ratio": start["enttok"] / start[DEMO_ONLY],
        "plugins_cpu_ratio": cpu["enttok"] / cpu[DEMO_ONLY],
        "plugins_rss_ratio": rss["enttok"] / rss[DEMO_ONLY],
        "targets": {
            "plugins_ratio": TARGET_PLUGINS_RATIO,
            "start_ratio": TARGET_START_RATIO,
            "rss_ratio": TARGET_RSS_RATIO,
            "first_job_ratio": TARGET_FIRST_JOB_RATIO,
        },
    }


def report(results: dict[str, object]) -> list[tuple[str, str, str, str, str]]:
    """Rows (metric, enttok, baseline, ratio, target met?) for the summary table."""
    start, rss = results["start_ms"], results["rss_mib"]
    start_ratio, rss_ratio = results["start_ratio"], results["rss_ratio"]
    return [
        (
            "cold start to /health 200 (median)",
            f"{start['enttok']:.0f} ms",
            f"{start['bare']:.0f} ms (bare)",
            ratio_text(start_ratio, TARGET_START_RATIO),
            f"<= {TARGET_START_RATIO}x: {verdict(start_ratio <= TARGET_START_RATIO)}",
        ),
        (
            "  same, against bare + pydantic (one model)",
            "",
            f"{start['bare+pydantic']:.0f} ms (bare+pydantic)",
            ratio_text(results["start_ratio_to_pydantic"], TARGET_START_RATIO),
            "reference: the floor for pydantic plugins",
        ),
        (
            "first accepted job (201 demo.noop), vs bare /health",
            f"{results['first_job_ms']:.0f} ms",
            f"{start['bare']:.0f} ms (bare /health)",
            ratio_text(results["first_job_ratio"], TARGET_FIRST_JOB_RATIO),
            f"<= {TARGET_FIRST_JOB_RATIO}x: {verdict(results['first_job_ratio'] <= TARGET_FIRST_JOB_RATIO)}",
        ),
        (
            "  same, against bare + pydantic /health",
            "",
            f"{start['bare+pydantic']:.0f} ms (bare+pydantic)",
            ratio_text(results["first_job_ratio_to_pydantic"], TARGET_FIRST_JOB_RATIO),
            "reference",
        ),
        (
            "  CPU to /health; to the first job (median)",
            f"{results['cpu_ms']['enttok']:.0f} ms; {results['cpu_ms']['enttok first job']:.0f} ms",
            f"{results['cpu_ms']['bare']:.0f} ms (bare); {results['cpu_ms']['bare+pydantic']:.0f} (+pydantic)",
            f"{results['cpu_ratio']:.2f}x; {results['first_job_cpu_ratio']:.2f}x",
            "reference: steadier on a shared machine",
        ),
        (
            "idle RSS after start (median)",
            f"{rss['enttok']:.1f} MiB",
            f"{rss['bare']:.1f} MiB (bare)",
            ratio_text(rss_ratio, TARGET_RSS_RATIO),
            f"<= {TARGET_RSS_RATIO}x: {verdict(rss_ratio <= TARGET_RSS_RATIO)}",
        ),
        (
            "  same, against bare + pydantic (one model)",
            "",
            f"{rss['bare+pydantic']:.1f} MiB (bare+pydantic)",
            ratio_text(results["rss_ratio_to_pydantic"], TARGET_RSS_RATIO),
            "reference",
        ),
        *[
            (
                f"every first-party plugin vs the demo alone: {what}",
                value(results, "enttok"),
                f"{value(results, DEMO_ONLY)} (demo only)",
                ratio_text(results[key], TARGET_PLUGINS_RATIO),
                f"<= {TARGET_PLUGINS_RATIO}x: {verdict(results[key] <= TARGET_PLUGINS_RATIO)}",
            )
            for what, key, value in (
                ("start", "plugins_start_ratio", lambda r, k: f"{r['start_ms'][k]:.0f} ms"),
                ("CPU", "plugins_cpu_ratio", lambda r, k: f"{r['cpu_ms'][k]:.0f} ms"),
                ("idle RSS", "plugins_rss_ratio", lambda r, k: f"{r['rss_mib'][k]:.1f} MiB"),
            )
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured starts of each server")
    parser.add_argument(
        "--bytecode-as-is",
        action="store_true",
        help="keep this shell's bytecode settings instead of a fresh bytecode cache (see common.python_env)",
    )
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    results = {
        "machine": machine_info(),
        "coldstart": measure(args.runs, bytecode_cache=not args.bytecode_as_is),
    }
    for row in report(results["coldstart"]):
        print(" | ".join(row))
    print(f"results: {save_results('coldstart', results)}")


if __name__ == "__main__":
    main()
