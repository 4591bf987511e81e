"""Cold start in instructions, not time: every first-party plugin against the demo alone.

A host runs under valgrind's callgrind (compiled bytecode, a fixed hash seed) until `/health`
answers 200; then callgrind is told to dump, and the dump's instruction total is the figure.
Exact and repeatable where wall time on a shared 2-core machine is not, so it is what the
1.1x target (every plugin / the demo alone) is judged by. Needs valgrind (`apt install
valgrind`); about a minute.

    uv run python bench/start_instructions.py [--runs 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    free_port,
    health_status,
    host_command,
    host_env,
    machine_info,
    python_env,
    running,
    save_results,
)

TARGET = 1.1
KINDS = {"every plugin": {}, "the demo alone": {"ENTTOK_PLUGINS_ALLOW": "demo"}}
HEALTH_TIMEOUT = 300.0  # valgrind runs the interpreter some 50 times slower


def instructions_to_health(kind: str, base_env: dict[str, str], scratch: Path) -> int:
    """One start under callgrind; the instructions executed until `/health` first said 200.
    Each kind keeps its data dir, as an installed machine does: the warm-up start migrated it."""
    port = free_port()
    out = scratch / f"callgrind.{port}"
    data_dir = scratch / f"data-{list(KINDS).index(kind)}"
    env = {**host_env(base_env, data_dir, port), **KINDS[kind], "PYTHONHASHSEED": "0"}
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", *host_command()]
    with running(command, env) as process:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while health_status(port) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the host under callgrind never answered /health (exit {process.poll()})")
            time.sleep(0.05)  # polling a process that needs seconds to start
        subprocess.run(
            ["callgrind_control", "--dump=health", str(process.pid)], check=True, capture_output=True
        )
        dumps = sorted(scratch.glob(f"callgrind.{port}.*"))
        while not dumps or "totals:" not in dumps[-1].read_text(errors="replace"):
            time.sleep(0.05)  # the dump is written by the host's own thread
            dumps = sorted(scratch.glob(f"callgrind.{port}.*"))
    totals = re.search(r"^(?:totals|summary): (\d+)", dumps[-1].read_text(errors="replace"), re.M)
    assert totals is not None, f"no total in {dumps[-1]}"
    return int(totals.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="starts of each kind (after one warm-up)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind)")
    with tempfile.TemporaryDirectory(prefix="enttok-instructions-") as scratch_dir:
        scratch = Path(scratch_dir)
        base_env = python_env(scratch / "pycache")
        counts: dict[str, list[int]] = {kind: [] for kind in KINDS}
        for kind in KINDS:  # a warm-up start each: it compiles the bytecode, migrates the database
            instructions_to_health(kind, base_env, scratch)
        for _ in range(args.runs):
            for kind in KINDS:
                counts[kind].append(instructions_to_health(kind, base_env, scratch))
    low = {kind: min(values) for kind, values in counts.items()}
    ratio = low["every plugin"] / low["the demo alone"]
    print("instructions to /health (callgrind), the lowest of each kind:")
    for kind, value in low.items():
        print(f"  {kind}: {value / 1e6:,.1f} M  (runs: {', '.join(f'{v / 1e6:,.1f}' for v in counts[kind])})")
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"  every plugin / the demo alone: {ratio:.3f}x (target <= {TARGET}x: {verdict})")
    results = {"machine": machine_info(), "instructions": counts, "ratio": ratio}
    print(f"results: {save_results('start_instructions', results)}")


if __name__ == "__main__":
    main()
