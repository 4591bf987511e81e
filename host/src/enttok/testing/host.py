"""The real host in a test: a `python -m enttok serve` subprocess on a loopback port with
its own data dir, log dir, token and keyring, driven over real HTTP and WebSocket."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
READY_PREFIX = "ENTTOK_READY "
TOKEN_HEADER = "X-Backend-Token"


class HostFailedToStart(RuntimeError):
    pass


class HostExited(RuntimeError):
    """The host process ended while a test was waiting on it (a crash, or a kill it asked for)."""


class EventStream:
    """A WebSocket client on `/events`: one event at a time, whether the host sends each in
    a message of its own or, batched, several in one (`messages` counts what arrived)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []
        self.messages = 0
        self._unread: list[dict[str, Any]] = []

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        if not self._unread:
            message = json.loads(self.connection.recv(timeout=timeout))
            self.messages += 1
            self._unread = message if isinstance(message, list) else [message]
        event = self._unread.pop(0)
        self.received.append(event)
        return event

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first event matching `predicate`; TimeoutError if none comes in `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.next(remaining)
            except TimeoutError:
                break
            if predicate(event):
                return event
        raise TimeoutError(f"no matching event in {timeout:g}s; the last received: {self.received[-5:]}")


class RunningHost:
    def __init__(self, process: subprocess.Popen[bytes], data_dir: Path, log_dir: Path, token: str) -> None:
        self.process = process
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.token = token
        self.stdout_lines: list[str] = []
        self.ready: dict[str, Any] = {}
        self._ready_seen = threading.Event()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.client = httpx.Client(headers={TOKEN_HEADER: token}, timeout=30.0, trust_env=False)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stdout_lines.append(line)
            if line.startswith(READY_PREFIX):
                self.ready = json.loads(line[len(READY_PREFIX) :])
                self._ready_seen.set()
        self._ready_seen.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self._ready_seen.wait(timeout) or not self.ready:
            self.kill()
            raise HostFailedToStart(f"no ready line in {timeout}s; stderr: {self.stderr_tail()}")

    @property
    def port(self) -> int:
        return self.ready["port"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir.parent / "host.stderr"

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- HTTP

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def submit(self, job_type: str, payload: Mapping[str, Any] | None = None, **fields: Any) -> str:
        """POST /jobs; the new job's id (fails the test unless the host answers 201)."""
        response = self.post("/jobs", json={"type": job_type, "payload": dict(payload or {}), **fields})
        assert response.status_code == 201, response.text
        return response.json()["job_id"]

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def job_events(self, job_id: str) -> list[dict[str, Any]]:
        return self.get(f"/jobs/{job_id}/events").json()["events"]

    # -- events

    @contextlib.contextmanager
    def events(self, since: int | None = None, batch: bool = False) -> Iterator[EventStream]:
        params = {"since": since, "batch": 1 if batch else None}
        query = urlencode({name: value for name, value in params.items() if value is not None})
        with connect(
            f"ws://127.0.0.1:{self.port}/events?{query}",
            additional_headers={TOKEN_HEADER: self.token},
            proxy=None,
            open_timeout=10,
        ) as connection:
            yield EventStream(connection)

    def wait_for_job(
        self, job_id: str, statuses: frozenset[str] = TERMINAL, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Wait on the event stream until the job reaches one of `statuses`; the job record.

        It fails within `timeout` seconds: TimeoutError naming the job and where it got to
        (status, attempt, progress, message) when it does not get there, HostExited when the
        host dies meanwhile."""
        last: dict[str, Any] = {"status": "unknown"}
        try:
            with self.events() as stream:
                last = self.job(job_id)  # read after subscribing, so no change falls in between
                if last["status"] in statuses:
                    return last
                with contextlib.suppress(TimeoutError):
                    stream.wait_for(
                        lambda e: (
                            e["type"] == "job.status" and e["job_id"] == job_id and e["status"] in statuses
                        ),
                        timeout,
                    )
                last = self.job(job_id)
        except (ConnectionClosed, httpx.TransportError, OSError) as error:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)  # a killed host closes its sockets a moment before it exits
            if self.process.poll() is None:
                raise
            raise HostExited(
                f"the host exited with code {self.process.returncode} while waiting for job {job_id}"
                f" (its last status: {last['status']}); stderr: {self.stderr_tail(5)}"
            ) from error
        if last["status"] not in statuses:
            wanted = "/".join(sorted(statuses))
            raise TimeoutError(
                f"job {job_id} did not become {wanted} within {timeout:g}s: {describe_job(last)}"
            )
        return last

    def run(
        self, job_type: str, payload: Mapping[str, Any] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Submit a job and wait for it to end; the final job record."""
        return self.wait_for_job(self.submit(job_type, payload), timeout=timeout)

    # -- the process

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the host can tell."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        self.kill()
        self.client.close()
        if self.process.stdin:
            self.process.stdin.close()


def describe_job(job: Mapping[str, Any]) -> str:
    """Where a job got to, in one line, for a failure message."""
    parts = [f"its last status is {job.get('status')}"]
    if job.get("attempt") is not None:
        parts.append(f"attempt {job['attempt']} of {job.get('max_attempts')}")
    if job.get("progress") is not None:
        parts.append(f"progress {job['progress']:.0%}")
    if job.get("message"):
        parts.append(f"message {job['message']!r}")
    if job.get("error"):
        parts.append(f"error {job['error']}")
    return ", ".join(parts)


def start_host(
    data_dir: Path,
    *,
    plugins: Sequence[str] | None = None,
    plugin_modules: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    pythonpath: Sequence[Path] = (),
    token: str | None = None,
    keyring_file: Path | None = None,
    wait: bool = True,
) -> RunningHost:
    """Start a host on `data_dir`.

    `plugins` limits the installed plugins to those named (`ENTTOK_PLUGINS_ALLOW`; the host's
    own `maintenance` is always there); `plugin_modules` adds `name -> module` plugins that
    are not installed, importable through `pythonpath`. Secrets go to a temporary keyring
    (`keyring_file`, by default beside the data dir, outside it), through the real keyring API.
    """
    token = token or secrets.token_hex(32)
    log_dir = data_dir / "logs"
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "ENTTOK_"))}
    environ.update(
        BACKEND_PORT="0",
        BACKEND_TOKEN=token,
        APP_DATA_DIR=str(data_dir),
        LOG_DIR=str(log_dir),
        RUN_ENV="dev",
        PYTHON_KEYRING_BACKEND="enttok.testing.keyring_backend.FileKeyring",
        ENTTOK_TEST_KEYRING=str(keyring_file or data_dir.parent / f"{data_dir.name}.keyring.json"),
    )
    if plugins is not None or plugin_modules:
        environ["ENTTOK_PLUGINS_ALLOW"] = ",".join([*(plugins or []), *(plugin_modules or {})])
    if plugin_modules:
        environ["ENTTOK_PLUGIN_MODULES"] = ",".join(
            f"{name}={module}" for name, module in plugin_modules.items()
        )
    if pythonpath:
        environ["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), environ.get("PYTHONPATH", "")])
    environ.update(env or {})
    with open(data_dir / "host.stderr", "ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "enttok", "serve", *args],
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    host = RunningHost(process, data_dir, log_dir, token)
    if wait:
        host.wait_ready()
    return host
