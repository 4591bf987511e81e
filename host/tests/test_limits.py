"""Bounded resources, checked from outside against a real host: a body over the limit is
refused before it is read, idle and slow-header connections are closed, connections beyond
the open-file budget are refused instead of locking the app out, a WebSocket client that
stops reading is dropped, and a connection the server closes after an error says so.

Raw sockets where httpx would not send the attack (a body that never comes, headers a byte
at a time, a WebSocket that never reads)."""

from __future__ import annotations

import base64
import json
import resource
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from enttok.api.connections import HEADER_TIMEOUT, RESERVED_FILES
from enttok.api.inputs import MAX_BODY
from enttok.testing import RunningHost, SuiteFigures, start_host

SUITE = "limits"
SUPPORT = Path(__file__).parent / "support"
# How long past a deadline the host may take to act on it (a busy 2-core machine).
SLACK = 10.0


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("limits"), plugins=["demo"])
    yield running
    running.close()


def open_socket(host: RunningHost, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # set before connecting, so the window starts small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(HEADER_TIMEOUT + SLACK)
    sock.connect(("127.0.0.1", host.port))
    return sock


def head(host: RunningHost, request_line: str, *headers: str) -> bytes:
    lines = [request_line, f"Host: 127.0.0.1:{host.port}", f"X-Backend-Token: {host.token}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> bytes:
    """Everything the host sends until it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def closed_by_host_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the host closed `sock` (which sends nothing more); fails past `seconds`."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the host kept the connection open over {seconds:g}s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


# -- request bodies


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    """A 1 GB Content-Length with no body sent: the answer comes at once, nothing is read."""
    with open_socket(host) as sock:
        sock.sendall(
            head(
                host,
                "POST /jobs HTTP/1.1",
                "Content-Type: application/json",
                f"Content-Length: {1024**3}",
            )
        )
        answer = read_response(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower(), headers
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    suite_figures.count(SUITE, "oversized bodies refused: on Content-Length, unread")


def test_a_streamed_body_is_cut_off_at_the_limit(host: RunningHost, suite_figures: SuiteFigures) -> None:
    """A chunked body that never ends: the host answers 413 once the limit is passed and
    closes the connection, so the sender cannot go on pushing bytes into it."""
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with open_socket(host) as sock:
        sock.sendall(
            head(host, "POST /jobs HTTP/1.1", "Content-Type: application/json", "Transfer-Encoding: chunked")
        )
        try:
            while sent < 64 * MAX_BODY:  # far past the limit: the host must have stopped us
                sock.sendall(frame)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the host closed the connection: what this test wants
        try:
            answer = read_response(sock)
        except ConnectionResetError:
            answer = b""  # reset with our unread bytes in its buffer: the refusal was lost
    assert sent < 64 * MAX_BODY, "the host read 64 MiB of body without refusing it"
    if answer:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert host.get("/health").status_code == 200
    suite_figures.count(SUITE, "oversized bodies refused: streamed, cut off")
    suite_figures.note(SUITE, f"streamed body cut off after {sent / MAX_BODY:.1f} MiB sent")


# -- idle and slow connections


def test_an_idle_connection_is_closed(host: RunningHost, suite_figures: SuiteFigures) -> None:
    with open_socket(host) as sock:
        waited = closed_by_host_within(sock, HEADER_TIMEOUT + SLACK)
    assert waited >= HEADER_TIMEOUT - 1
    suite_figures.count(SUITE, "stalled connections closed: idle")


def test_headers_sent_a_byte_at_a_time_are_cut_off(host: RunningHost, suite_figures: SuiteFigures) -> None:
    request = head(host, "GET /status HTTP/1.1") * 100  # far more bytes than the deadline lets through
    started = time.monotonic()
    with open_socket(host) as sock:
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)  # the attack's own pace, not a wait for the host
                if time.monotonic() - started > HEADER_TIMEOUT + SLACK:
                    pytest.fail("the host still took header bytes past its deadline")
        except (BrokenPipeError, ConnectionResetError):
            pass
        else:
            pytest.fail("the whole slow request went through")
    assert time.monotonic() - started >= HEADER_TIMEOUT - 1
    suite_figures.count(SUITE, "stalled connections closed: slow headers")


def test_keep_alive_requests_still_work(host: RunningHost) -> None:
    """The header deadline is per request: a connection used again and again stays open."""
    with httpx.Client(headers={"X-Backend-Token": host.token}, trust_env=False) as client:
        for _ in range(5):
            assert client.get(host.url + "/status").status_code == 200


def _nofile(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit in /proc/<pid>/limits")


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs Linux /proc")
def test_the_soft_open_file_limit_is_raised_at_start(tmp_path: Path, suite_figures: SuiteFigures) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 1024:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise to")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # the host inherits 1024
    try:
        running = start_host(tmp_path / "rlimit", plugins=["demo"])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert _nofile(running.process.pid) == (hard, hard)
    finally:
        running.close()
    suite_figures.note(SUITE, f"open-file limit raised 1024 -> {hard}")


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs Linux /proc")
def test_idle_connections_cannot_lock_the_app_out(tmp_path: Path, suite_figures: SuiteFigures) -> None:
    """More idle sockets than the host has descriptors for: those beyond the cap are refused
    with a 503 at once, the rest time out, the host lives on, and the app gets in again."""
    running = start_host(tmp_path / "flood", plugins=["demo"])
    try:
        limit = 256
        hard = _nofile(running.process.pid)[1]
        resource.prlimit(running.process.pid, resource.RLIMIT_NOFILE, (limit, hard))
        cap = limit - RESERVED_FILES
        flood = [open_socket(running) for _ in range(limit + 50)]
        refused = timed_out = 0
        try:
            for sock in flood:
                sock.settimeout(HEADER_TIMEOUT + SLACK)
                answer = read_response(sock)  # fails the test if the host never closes it
                if answer:
                    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
                    assert b"too_many_connections" in answer
                    refused += 1
                else:
                    timed_out += 1
        finally:
            for sock in flood:
                sock.close()
        assert refused >= len(flood) - cap, (refused, timed_out)
        assert timed_out >= cap // 2, (refused, timed_out)
        assert running.process.poll() is None, running.stderr_tail()
        assert running.get("/status").status_code == 200
    finally:
        running.close()
    suite_figures.count(SUITE, "connections refused over the cap", refused)
    suite_figures.count(SUITE, "stalled connections closed: idle, in a flood", timed_out)


# -- WebSocket subscribers


def websocket_that_never_reads(host: RunningHost) -> socket.socket:
    """A handshake, then nothing: the client's window is small and never opens again."""
    sock = open_socket(host, receive_buffer=4096)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    sock.sendall(
        head(
            host,
            "GET /events HTTP/1.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        )
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # byte by byte: leave every frame after the handshake unread
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def subscribers(host: RunningHost) -> int:
    return host.get("/status").json()["event_subscribers"]


def test_a_websocket_client_that_stops_reading_is_dropped(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    """Events (about 1.6 kB per failed job) until the client's socket is full and the host
    gives up on it; it must no longer be counted in /status."""
    before = subscribers(host)
    failure = {"message": "m" * 1000}
    with websocket_that_never_reads(host):
        deadline = time.monotonic() + SLACK
        while subscribers(host) == before:  # subscribed once its handler runs, after the 101
            assert time.monotonic() < deadline, "the WebSocket never subscribed"
        started, jobs = time.monotonic(), 0
        deadline = started + 120
        while subscribers(host) > before:
            assert time.monotonic() < deadline, f"still counted after {jobs} jobs' events"
            for _ in range(100):
                host.submit("demo.fail", failure)
            jobs += 100
        dropped_after = time.monotonic() - started
    suite_figures.count(SUITE, "stalled WebSocket subscribers dropped")
    suite_figures.note(SUITE, f"stalled subscriber dropped {dropped_after:.1f}s, {jobs} jobs into the flood")


# -- closing after an error


def test_a_500_says_connection_close(tmp_path: Path, suite_figures: SuiteFigures) -> None:
    """A plugin route that fails: its 500 tells the client the connection is going away, so
    the client's next request goes on a new one and succeeds."""
    running = start_host(
        tmp_path / "errors", plugins=[], plugin_modules={"extras": "extras"}, pythonpath=[SUPPORT]
    )
    try:
        with httpx.Client(headers={"X-Backend-Token": running.token}, trust_env=False) as client:
            failed = client.post(running.url + "/plugins/extras/items", json={})  # no "name": KeyError
            assert failed.status_code == 500, failed.text
            assert failed.headers["connection"] == "close"
            assert "Traceback" not in failed.text
            assert client.get(running.url + "/plugins/extras/items").status_code == 200
    finally:
        running.close()
    suite_figures.count(SUITE, "500 answers with a Connection close header")
