"""What every benchmark shares: starting and always stopping servers on 127.0.0.1, probing
them over a raw socket, reading a process's memory, and describing the machine.

The health probe is a hand-written HTTP/1.1 request on a plain socket rather than httpx, so
the probing costs the same tiny amount for every server measured and imports nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOOPBACK = "127.0.0.1"
TOKEN = "bench-token-" + "x" * 32  # a fixed, obviously fake 44-char token: only loopback traffic
PYTHON = sys.executable  # the workspace venv's python: every workspace plugin is installed in it
STOP_GRACE = 10.0


def free_port() -> int:
    """A port the OS just handed out; the tiny race until the server binds it is harmless on
    loopback, and a known port lets every server be probed the same way."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def health_status(port: int, timeout: float = 1.0) -> int | None:
    """HTTP status of `GET /health`, or None while nothing accepts connections on `port`."""
    request = f"GET /health HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
            connection.sendall(request)
            head = connection.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def wait_for_health(process: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> float:
    """Poll `/health` every millisecond until it answers 200; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health_status(port) == 200:
            return time.monotonic()
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before answering /health")
        time.sleep(0.001)
    raise TimeoutError(f"{process.args} did not answer /health within {timeout:g}s")


def rss_mib(pid: int) -> float:
    """Resident set size from /proc/<pid>/status (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def python_env(pycache: Path | None) -> dict[str, str]:
    """This environment, with Python's bytecode cache pinned to `pycache` for every server.

    Whether compiled bytecode is found decides much of a Python start-up, so it must not depend
    on the shell: with PYTHONDONTWRITEBYTECODE set and no `__pycache__` in the venv (as in some
    sandboxes), every start compiles every module of the venv from source. With a `pycache`
    directory, the first (warm-up) start compiles into it and later starts read it, as on any
    installed machine, and the venv is left untouched. With None, the environment is passed on
    as it is: whatever this shell does is what gets measured.
    """
    if pycache is None:
        return dict(os.environ)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), in seconds.

    On a shared machine, CPU per job varies much less than jobs per second does."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_env(base: Mapping[str, str], data_dir: Path, port: int = 0) -> dict[str, str]:
    """The environment `enttok serve` is started with: the contract's variables on top of
    `base`, so the host runs as the desktop app would start it."""
    return {
        **base,
        "BACKEND_TOKEN": TOKEN,
        "APP_DATA_DIR": str(data_dir),
        "BACKEND_PORT": str(port),
        "RUN_ENV": "prod",
    }


def host_command() -> list[str]:
    """`enttok serve` as the desktop app runs it: with --parent-watch, so a host whose parent
    (here, the benchmark) dies without stopping it exits by itself when its stdin closes."""
    return [PYTHON, "-m", "enttok", "serve", "--parent-watch"]


def spawn(args: list[str], env: Mapping[str, str] | None, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start a server with stdin and stdout piped (stdin for --parent-watch, stdout for the
    ready line) and stderr to `stderr`."""
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
    )


def stop(process: subprocess.Popen[bytes]) -> int | None:
    """Ask the server to exit, wait STOP_GRACE seconds, then SIGKILL it; its exit code.

    A host started with --parent-watch is asked the way its parent going away asks it: by
    closing its stdin. (SIGTERM while its stdin is still open makes it abort at interpreter
    exit: the watcher thread holds stdin's buffer lock.) Anything else gets SIGTERM."""
    assert isinstance(process.args, list)
    if process.poll() is None:
        if "--parent-watch" in process.args and process.stdin:
            process.stdin.close()
        else:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe:
            pipe.close()
    return process.returncode


@contextlib.contextmanager
def running(args: list[str], env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A server process that is stopped however the block ends; if the block fails, the
    server's last stderr lines are attached to the error, since they usually say why."""
    with tempfile.TemporaryFile() as stderr:
        process = spawn(args, env, stderr)
        try:
            yield process
        except BaseException as error:
            stop(process)
            stderr.seek(0)
            error.add_note(
                "server stderr (last lines):\n" + b"\n".join(stderr.read().splitlines()[-15:]).decode()
            )
            raise
        finally:
            stop(process)


def read_ready_line(process: subprocess.Popen[bytes], timeout: float = 30.0) -> dict[str, object]:
    """Wait for the host's `ENTTOK_READY {...}` stdout line (the supervisor's way) and parse it.

    Reads the pipe's file descriptor directly, with select, so the timeout holds even if the
    host hangs without printing anything."""
    assert process.stdout is not None
    fd, pending = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"the host exited with {process.wait()} before its ready line")
        pending += chunk
        for line in pending.split(b"\n")[:-1]:
            if line.startswith(b"ENTTOK_READY "):
                return json.loads(line.split(b" ", 1)[1])
    raise TimeoutError(f"no ready line from the host within {timeout:g}s")


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop every server this run started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def ratio_text(ratio: float, target: float) -> str:
    """A ratio with two decimals, or three when two would round it onto the target, so the
    figure never seems to contradict its verdict."""
    return f"{ratio:.3f}x" if round(ratio, 2) == target and ratio != target else f"{ratio:.2f}x"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def machine_info() -> dict[str, object]:
    """What the figures depend on, recorded next to them."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def save_results(name: str, results: Mapping[str, object]) -> Path:
    """Write results as JSON under bench/results/ (gitignored)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
