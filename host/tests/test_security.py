"""The host's guard, checked from outside against a real server (docs/api.md, "Requests"):
token on every route but GET /health, Host and Origin checks on HTTP and WebSocket, a
loopback-only listener, and a token that never reaches a file or the command line."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from enttok.testing import RunningHost, SuiteFigures, start_host
from enttok_demo.fake_api import fake_upstream

SUITE = "security"  # the line these tests' figures go to in the run's summary
HTTP_REFUSED = "HTTP requests refused: "  # + the kind of refusal
WS_REFUSED = "WebSocket handshakes refused: "
TOKEN_HEADER = "X-Backend-Token"
ALLOWED_ORIGINS = ("http://localhost:5173", "app://enttok")

# Every route that needs the token; `{job_id}` is filled with a real, finished job, and a
# body is one the route would accept, so only the missing token can explain a refusal.
PROTECTED = [
    ("GET", "/status", None),
    ("GET", "/jobs", None),
    ("POST", "/jobs", {"type": "demo.noop", "payload": {}}),
    ("GET", "/jobs/{job_id}", None),
    ("GET", "/jobs/{job_id}/events", None),
    ("POST", "/jobs/{job_id}/cancel", None),
    ("GET", "/settings", None),
    ("POST", "/settings", {}),
    ("GET", "/plugins", None),
    ("GET", "/activity/events", None),
    ("GET", "/openapi.json", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in PROTECTED]


# -- fixtures


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("security"), plugins=["demo"])
    yield running
    running.close()


@pytest.fixture(scope="module")
def origins_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """A host that allows two Origins (with a space after the comma, as people write them)."""
    running = start_host(
        tmp_path_factory.mktemp("origins"),
        plugins=["demo"],
        env={"BACKEND_ALLOWED_ORIGINS": ", ".join(ALLOWED_ORIGINS)},
    )
    yield running
    running.close()


@pytest.fixture(scope="module")
def job_id(host: RunningHost) -> str:
    job = host.run("demo.noop")
    assert job["status"] == "succeeded", job
    return job["job_id"]


# -- helpers


def request(
    host: RunningHost, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None
) -> httpx.Response:
    """One request on a fresh connection, with exactly the headers given (no token by default).
    Plain HTTP to 127.0.0.1: no proxy from the environment, no TLS context to build."""
    with httpx.Client(trust_env=False, verify=False, timeout=10) as client:
        return client.request(method, host.url + path, headers=headers or {}, json=body)


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in response.text
    return error


def raw_exchange(port: int, request_head: str) -> tuple[int, bytes]:
    """Send `request_head` as is on a new loopback connection; the status and the raw answer.

    Reads to the end of the connection, or to the end of the headers of a 101 (which stays open).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if answer.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in answer:
                break
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), answer[:200]
    return int(status_line.split()[1]), answer


def raw_get(port: int, path: str, host_header: str | None, token: str | None = None) -> tuple[int, bytes]:
    lines = [f"GET {path} HTTP/1.{1 if host_header is not None else 0}"]
    if host_header is not None:
        lines.append(f"Host: {host_header}")
    if token is not None:
        lines.append(f"{TOKEN_HEADER}: {token}")
    lines.append("Connection: close")
    return raw_exchange(port, "\r\n".join(lines) + "\r\n\r\n")


def raw_websocket_handshake(port: int, host_header: str, token: str) -> int:
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    head = (
        "GET /events HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"{TOKEN_HEADER}: {token}\r\n\r\n"
    )
    return raw_exchange(port, head)[0]


def ws_connect(
    host: RunningHost, query: str = "", token: str | None = None, origin: str | None = None
) -> ClientConnection:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    return connect(
        f"ws://127.0.0.1:{host.port}/events{query}",
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=10,
    )


def ws_refusal(host: RunningHost, **options: Any) -> int:
    """The HTTP status the WebSocket handshake was refused with (fails if it was accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(host, **options).close()
    return refused.value.response.status_code


def first_replayed_event(connection: ClientConnection) -> dict[str, Any]:
    with connection:
        return json.loads(connection.recv(timeout=10))


# -- the token


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=ROUTE_IDS)
@pytest.mark.parametrize("credential", ["missing", "wrong", "truncated", "extended", "in_query"])
def test_protected_route_refuses_missing_or_wrong_token(
    host: RunningHost,
    job_id: str,
    method: str,
    path: str,
    body: Any,
    credential: str,
    suite_figures: SuiteFigures,
) -> None:
    path = path.format(job_id=job_id)
    headers = {
        "missing": {},
        "wrong": {TOKEN_HEADER: secrets.token_hex(32)},
        "truncated": {TOKEN_HEADER: host.token[:-1]},
        "extended": {TOKEN_HEADER: host.token + "0"},
        "in_query": {},  # the query-string token is for WebSockets only
    }[credential]
    if credential == "in_query":
        path += f"?token={host.token}"
    error = assert_error(request(host, method, path, headers=headers, body=body), 401)
    assert host.token not in json.dumps(error)
    kind = {"missing": "no token", "in_query": "token only in the query"}.get(credential, "wrong token")
    suite_figures.count(SUITE, HTTP_REFUSED + kind)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=ROUTE_IDS)
def test_protected_route_answers_with_the_token(
    host: RunningHost, job_id: str, method: str, path: str, body: Any
) -> None:
    response = request(
        host, method, path.format(job_id=job_id), headers={TOKEN_HEADER: host.token}, body=body
    )
    assert response.status_code < 500, response.text
    assert response.status_code not in (401, 403), response.text


def test_every_documented_route_needs_the_token(host: RunningHost, suite_figures: SuiteFigures) -> None:
    """Whatever /openapi.json lists, plugin routes included, only GET /health is open."""
    document = host.get("/openapi.json").json()
    checked = []
    for path, operations in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            if (method, path) in (("get", "/health"), ("head", "/health")):
                continue
            response = request(host, method.upper(), concrete)
            if path == "/events":  # a plain GET on the WebSocket route
                assert response.status_code in (401, 403), (method, path, response.text)
            else:
                assert_error(response, 401)
            checked.append(f"{method} {path}")
    assert len(checked) >= len(PROTECTED), checked
    suite_figures.count(SUITE, HTTP_REFUSED + "no token", len(checked))


def test_unknown_routes_need_the_token_too(host: RunningHost, suite_figures: SuiteFigures) -> None:
    """Without the token nothing is told, not even whether a route exists."""
    for path in ("/no-such-route", "/plugins/demo/anything", "/jobs/job_x/nothing"):
        assert_error(request(host, "GET", path), 401)
        suite_figures.count(SUITE, HTTP_REFUSED + "no token")


def test_refused_requests_change_nothing(host: RunningHost, suite_figures: SuiteFigures) -> None:
    jobs_before = host.get("/jobs", params={"limit": 500}).json()["jobs"]
    settings_before = host.get("/settings").json()
    assert_error(request(host, "POST", "/jobs", body={"type": "demo.noop", "payload": {}}), 401)
    wrong = {TOKEN_HEADER: secrets.token_hex(32)}
    assert_error(request(host, "POST", "/settings", headers=wrong, body={"host": {"workers": 7}}), 401)
    assert host.get("/jobs", params={"limit": 500}).json()["jobs"] == jobs_before
    assert host.get("/settings").json() == settings_before
    suite_figures.count(SUITE, HTTP_REFUSED + "no token")
    suite_figures.count(SUITE, HTTP_REFUSED + "wrong token")


def test_health_needs_no_token(host: RunningHost) -> None:
    response = request(host, "GET", "/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert isinstance(response.json()["version"], str)
    assert request(host, "HEAD", "/health").status_code == 200


def test_only_get_health_is_public(host: RunningHost, suite_figures: SuiteFigures) -> None:
    assert_error(request(host, "POST", "/health"), 401)
    suite_figures.count(SUITE, HTTP_REFUSED + "no token")
    assert_error(request(host, "POST", "/health", headers={TOKEN_HEADER: host.token}), 405)


# -- the WebSocket


@pytest.mark.parametrize(
    "credential",
    ["missing", "wrong_header", "wrong_query", "empty_query", "token_elsewhere_in_query"],
)
def test_websocket_refused_without_the_token(
    host: RunningHost, credential: str, suite_figures: SuiteFigures
) -> None:
    options: dict[str, Any] = {
        "missing": {},
        "wrong_header": {"token": secrets.token_hex(32)},
        "wrong_query": {"query": f"?token={secrets.token_hex(32)}"},
        "empty_query": {"query": "?token="},
        "token_elsewhere_in_query": {"query": f"?since=0&tok={host.token}"},
    }[credential]
    assert ws_refusal(host, **options) in (401, 403)
    kind = "wrong token" if credential.startswith("wrong") else "no token"
    suite_figures.count(SUITE, WS_REFUSED + kind)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1"])
def test_websocket_refused_from_a_foreign_origin(
    host: RunningHost, origin: str, suite_figures: SuiteFigures
) -> None:
    assert ws_refusal(host, token=host.token, origin=origin) == 403
    assert ws_refusal(host, query=f"?token={host.token}", origin=origin) == 403
    suite_figures.count(SUITE, WS_REFUSED + "foreign Origin", 2)


@pytest.mark.parametrize("where", ["header", "query"])
def test_websocket_accepted_with_the_token(host: RunningHost, job_id: str, where: str) -> None:
    if where == "header":
        connection = ws_connect(host, "?since=0", token=host.token)
    else:
        connection = ws_connect(host, f"?since=0&token={host.token}")
    event = first_replayed_event(connection)
    assert isinstance(event["seq"], int)
    assert isinstance(event["type"], str)


# -- the Host header (DNS rebinding)


def bad_host_headers(port: int) -> list[str]:
    return [
        f"evil.example:{port}",
        "evil.example",
        f"localhost.evil.example:{port}",
        f"127.0.0.1.evil.example:{port}",
        f"0.0.0.0:{port}",
        "127.0.0.1",
        "localhost",
        f"127.0.0.1:{port + 1 if port < 65535 else port - 1}",
        f"127.0.0.1:{port}@evil.example",
    ]


def test_foreign_host_header_is_forbidden_on_http(host: RunningHost, suite_figures: SuiteFigures) -> None:
    for host_header in bad_host_headers(host.port):
        for path, token in (("/status", host.token), ("/health", None)):
            status, answer = raw_get(host.port, path, host_header, token)
            assert status == 403, (host_header, path, answer)
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert body["error"]["code"], answer
            suite_figures.count(SUITE, HTTP_REFUSED + "foreign Host")


def test_missing_host_header_is_forbidden(host: RunningHost, suite_figures: SuiteFigures) -> None:
    status, answer = raw_get(host.port, "/status", None, host.token)
    assert status == 403, answer
    suite_figures.count(SUITE, HTTP_REFUSED + "no Host")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_loopback_host_header_is_accepted(host: RunningHost, name: str) -> None:
    status, answer = raw_get(host.port, "/status", f"{name}:{host.port}", host.token)
    assert status == 200, answer
    assert raw_websocket_handshake(host.port, f"{name}:{host.port}", host.token) == 101


def test_foreign_host_header_is_forbidden_on_websocket(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    for host_header in bad_host_headers(host.port):
        assert raw_websocket_handshake(host.port, host_header, host.token) == 403, host_header
        suite_figures.count(SUITE, WS_REFUSED + "foreign Host")


# -- the Origin header


@pytest.mark.parametrize("path", ["/status", "/health"])
def test_any_origin_is_forbidden_when_none_is_allowed(
    host: RunningHost, path: str, suite_figures: SuiteFigures
) -> None:
    for origin in ("http://evil.example", f"http://127.0.0.1:{host.port}", "null", *ALLOWED_ORIGINS):
        response = request(host, "GET", path, headers={TOKEN_HEADER: host.token, "Origin": origin})
        assert assert_error(response, 403)["code"], origin
        suite_figures.count(SUITE, HTTP_REFUSED + "foreign Origin")


@pytest.mark.parametrize("origin", ALLOWED_ORIGINS)
def test_allowed_origin_passes(origins_host: RunningHost, origin: str) -> None:
    response = request(
        origins_host, "GET", "/status", headers={TOKEN_HEADER: origins_host.token, "Origin": origin}
    )
    assert response.status_code == 200, response.text
    connection = ws_connect(origins_host, f"?since=0&token={origins_host.token}", origin=origin)
    with connection:
        assert connection.protocol.state.name == "OPEN"


def test_allowed_origin_still_needs_the_token(origins_host: RunningHost, suite_figures: SuiteFigures) -> None:
    assert_error(request(origins_host, "GET", "/status", headers={"Origin": ALLOWED_ORIGINS[0]}), 401)
    assert ws_refusal(origins_host, origin=ALLOWED_ORIGINS[0]) in (401, 403)
    suite_figures.count(SUITE, HTTP_REFUSED + "no token")
    suite_figures.count(SUITE, WS_REFUSED + "no token")


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://localhost:5173",
        "http://localhost:5174",
        "http://localhost:5173/",
        "http://localhost:5173.evil.example",
        "app://enttok.evil.example",
        "null",
        "http://localhost:5173, app://enttok",
    ],
)
def test_origin_not_in_the_allowed_list_is_forbidden(
    origins_host: RunningHost, origin: str, suite_figures: SuiteFigures
) -> None:
    response = request(
        origins_host, "GET", "/status", headers={TOKEN_HEADER: origins_host.token, "Origin": origin}
    )
    assert_error(response, 403)
    assert ws_refusal(origins_host, token=origins_host.token, origin=origin) == 403
    suite_figures.count(SUITE, HTTP_REFUSED + "foreign Origin")
    suite_figures.count(SUITE, WS_REFUSED + "foreign Origin")


# -- the listener


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc/net/tcp6 writes the address as four host-order (little-endian) 32-bit words
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(match.group(1))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.add((_decode_address(address), int(port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_host_listens_on_loopback_only(host: RunningHost, suite_figures: SuiteFigures) -> None:
    assert host.ready["pid"] == host.process.pid
    listening = listening_addresses(host.process.pid)
    assert listening == {("127.0.0.1", host.port)}
    suite_figures.count(SUITE, "listening socket(s) checked loopback-only", len(listening))


# -- the token stays secret


def scan_files(secret: str, *roots: Path) -> tuple[list[Path], int]:
    """The files under `roots` that contain `secret`, and how many files were read."""
    needle = secret.encode()
    found, scanned = [], 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                if needle in path.read_bytes():
                    found.append(path)
    return found, scanned


def make_traffic(host: RunningHost, job_id: str) -> None:
    """Requests that could leave the token in a log: a WebSocket with ?token=, refusals, errors."""
    first_replayed_event(ws_connect(host, f"?since=0&token={host.token}"))
    ws_refusal(host, query=f"?token={host.token}", origin="http://evil.example")
    ws_refusal(host, query=f"?since=x&token={host.token}x")
    request(host, "GET", f"/status?token={host.token}")
    request(host, "GET", f"/no-such-route?token={host.token}", headers={TOKEN_HEADER: host.token})
    request(host, "POST", "/jobs", headers={TOKEN_HEADER: host.token}, body={"type": "nope.nothing"})
    raw_get(host.port, f"/status?token={host.token}", "evil.example", host.token)
    assert host.run("demo.fail", {"message": "expected failure"})["status"] == "failed"
    assert host.get(f"/jobs/{job_id}/events").status_code == 200


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_token_never_reaches_a_file_or_the_command_line(
    host: RunningHost, job_id: str, suite_figures: SuiteFigures
) -> None:
    make_traffic(host, job_id)
    log_files = [path for path in host.log_dir.rglob("*") if path.is_file()]
    assert log_files and any(path.stat().st_size for path in log_files), "the host wrote no log to scan"
    assert (host.data_dir / "data" / "index.db").exists()
    found, scanned = scan_files(host.token, host.data_dir, host.log_dir)
    assert found == []
    suite_figures.count(SUITE, "files scanned for a secret: host token", scanned)
    assert host.token.encode() not in Path(f"/proc/{host.process.pid}/cmdline").read_bytes()
    assert not any(host.token in line for line in host.stdout_lines)


def test_generated_token_is_printed_once_and_kept_out_of_files(
    tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    """With no BACKEND_TOKEN the host makes a 256-bit one and prints it once on stdout only."""
    running = start_host(tmp_path / "generated", plugins=["demo"], env={"BACKEND_TOKEN": ""})
    try:
        printed = [line for line in running.stdout_lines if re.search(r"\b[0-9a-f]{64,}\b", line)]
        assert len(printed) == 1, running.stdout_lines
        token = re.search(r"\b([0-9a-f]{64,})\b", printed[0]).group(1)  # type: ignore[union-attr]
        assert len(token) * 4 >= 256
        assert token != running.token
        assert request(running, "GET", "/status", headers={TOKEN_HEADER: token}).status_code == 200
        assert_error(request(running, "GET", "/status", headers={TOKEN_HEADER: running.token}), 401)
        suite_figures.count(SUITE, HTTP_REFUSED + "wrong token")
        submitted = request(
            running, "POST", "/jobs", headers={TOKEN_HEADER: token}, body={"type": "demo.noop", "payload": {}}
        )
        assert submitted.status_code == 201, submitted.text
        first_replayed_event(ws_connect(running, f"?since=0&token={token}"))
    finally:
        running.close()
    found, scanned = scan_files(token, running.data_dir, running.log_dir)
    assert found == []
    suite_figures.count(SUITE, "files scanned for a secret: host token", scanned)


# -- the query-string token never reaches the log, in any spelling


def spellings(secret: str) -> set[str]:
    """`secret` as it could appear in a URL: plain, percent-encoded, every byte encoded."""
    every_byte = "".join(f"%{byte:02X}" for byte in secret.encode())
    return {secret, quote(secret, safe=""), quote_plus(secret), every_byte, every_byte.lower()}


def test_a_query_token_in_any_encoding_stays_out_of_the_log(
    tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    """A token that needs percent-encoding, sent in the WebSocket query spelled several
    ways: each is accepted (so each handshake is logged), and no spelling reaches a file."""
    token = secrets.token_hex(16) + "+/=&%?#;"
    running = start_host(tmp_path / "query-token", plugins=["demo"], token=token)
    try:
        for spelled in sorted(spellings(token) - {token}):
            first_replayed_event_after_job(running, f"?since=0&token={spelled}")
        ws_refusal(running, query=f"?token={quote(token, safe='')}x")
    finally:
        running.close()
    log_text = "\n".join(p.read_text(errors="replace") for p in running.log_dir.rglob("*") if p.is_file())
    assert '"WebSocket /events?' in log_text, "no handshake was logged: nothing was tested"
    for spelled in spellings(token):
        found, scanned = scan_files(spelled, running.data_dir, running.log_dir)
        assert found == [], spelled
    suite_figures.count(SUITE, "files scanned for a secret: query-string token", scanned)


def first_replayed_event_after_job(host: RunningHost, query: str) -> dict[str, Any]:
    host.run("demo.noop")
    with connect(f"ws://127.0.0.1:{host.port}/events{query}", proxy=None, open_timeout=10) as connection:
        return json.loads(connection.recv(timeout=10))


def test_a_short_secret_does_not_blank_out_the_log(host: RunningHost, suite_figures: SuiteFigures) -> None:
    """A one-character account secret is below the scrubber's minimum: the log lines after it
    are intact (every `e` is not `<redacted>`)."""
    response = host.post(
        "/plugins/demo/accounts",
        headers={TOKEN_HEADER: host.token},
        json={
            "account_id": "short-secret",
            "settings": {"base_url": "http://127.0.0.1:9", "refresh_token": "e"},
        },
    )
    assert response.status_code == 201, response.text
    assert host.run("demo.fail", {"message": "expected failure here"})["status"] == "failed"
    log_text = (host.log_dir / "enttok.log").read_text()
    assert "expected failure here" in log_text or "secrets are kept in" in log_text, log_text[-2000:]
    assert not re.search(r"\w<redacted>|<redacted>\w", log_text), "text around a short secret was scrubbed"
    suite_figures.count(SUITE, "short secrets left unscrubbed, by design")


# -- files only the user can read


def modes_under(*roots: Path) -> dict[Path, int]:
    return {path: path.stat().st_mode & 0o777 for root in roots for path in [root, *root.rglob("*")]}


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_data_and_logs_are_private(tmp_path: Path, suite_figures: SuiteFigures) -> None:
    """A new data dir, and one an older host left world-readable: every dir 0700 and every
    file 0600 once the host has run (the database, its WAL and SHM, the log)."""
    old = tmp_path / "old"
    (old / "data").mkdir(parents=True, mode=0o755)
    (old / "logs").mkdir(mode=0o755)
    (old / "logs" / "enttok.log").write_text("")
    (old / "logs" / "enttok.log").chmod(0o644)
    checked = 0
    for data_dir in (tmp_path / "new", old):
        running = start_host(data_dir, plugins=["demo"])
        try:
            assert running.run("demo.noop")["status"] == "succeeded"
            database = running.data_dir / "data" / "index.db"
            assert {database, database.with_name("index.db-wal"), running.log_dir / "enttok.log"} <= set(
                modes_under(running.data_dir / "data", running.log_dir)
            )
            modes = modes_under(running.data_dir / "data", running.log_dir)
            if (running.data_dir / "cache").exists():
                modes |= modes_under(running.data_dir / "cache")
        finally:
            running.close()
        wide = {
            str(path): oct(mode)
            for path, mode in modes.items()
            if mode != (0o700 if path.is_dir() else 0o600)
        }
        assert wide == {}
        checked += len(modes)
    suite_figures.count(SUITE, "files and dirs checked private (0600/0700)", checked)


# -- CORS for the allowed Origins


def test_a_preflight_from_an_allowed_origin_is_answered(
    origins_host: RunningHost, suite_figures: SuiteFigures
) -> None:
    """What a browser sends before `fetch` with the token header: no token of its own."""
    for origin in ALLOWED_ORIGINS:
        response = request(
            origins_host,
            "OPTIONS",
            "/jobs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-backend-token, content-type",
            },
        )
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == origin
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
        assert {"x-backend-token", "content-type"} <= allowed
        assert "Origin" in response.headers["vary"]
        # The request itself: the token is needed, and the answer is readable by the page.
        answer = request(
            origins_host,
            "POST",
            "/jobs",
            headers={"Origin": origin, TOKEN_HEADER: origins_host.token},
            body={"type": "demo.noop", "payload": {}},
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["access-control-allow-origin"] == origin
        refused = request(origins_host, "GET", "/status", headers={"Origin": origin})
        assert_error(refused, 401)
        assert refused.headers["access-control-allow-origin"] == origin  # the page can read why
        suite_figures.count(SUITE, "CORS preflights answered for an allowed Origin")


def test_a_preflight_is_no_way_around_the_guard(
    host: RunningHost, origins_host: RunningHost, suite_figures: SuiteFigures
) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-backend-token"}
    cases = [
        (origins_host, {"Origin": "http://evil.example", **preflight}, 403),
        (host, {"Origin": ALLOWED_ORIGINS[0], **preflight}, 403),  # no Origin allowed on this host
        (origins_host, preflight, 401),  # no Origin: not a browser's preflight, so the token is needed
    ]
    for target, headers, status in cases:
        response = request(target, "OPTIONS", "/jobs", headers=headers)
        assert_error(response, status)
        assert "access-control-allow-origin" not in response.headers
        suite_figures.count(SUITE, HTTP_REFUSED + "preflight not allowed")
    # A GET dressed as a preflight is a GET: it still needs the token.
    dressed = request(origins_host, "GET", "/status", headers={"Origin": ALLOWED_ORIGINS[0], **preflight})
    assert_error(dressed, 401)
    suite_figures.count(SUITE, HTTP_REFUSED + "no token")


# -- a secret store that cannot be opened


FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_an_unreadable_secret_store_is_a_host_fault_not_a_reauth(
    tmp_path: Path, suite_figures: SuiteFigures
) -> None:
    """Secrets saved with one BACKEND_SECRET_KEY, the host restarted with another (or none):
    /status says the store cannot be opened, a sync fails with `secrets_unavailable`, the
    account stays `active`, and with the right key again everything works."""
    key = secrets.token_urlsafe(32)
    data_dir = tmp_path / "sealed"
    upstream, _ = fake_upstream(count=5)
    with upstream:
        first = start_host(data_dir, plugins=["demo"], env={**FAIL_KEYRING, "BACKEND_SECRET_KEY": key})
        try:
            settings = {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()}
            created = first.post("/plugins/demo/accounts", json={"account_id": "acme", "settings": settings})
            assert created.status_code == 201, created.text
            assert first.get("/status").json()["secrets"] == {
                "store": "encrypted-file",
                "ok": True,
                "error": None,
            }
        finally:
            assert first.stop() == 0
        for wrong in ({"BACKEND_SECRET_KEY": secrets.token_urlsafe(32)}, {}):
            broken = start_host(data_dir, plugins=["demo"], env={**FAIL_KEYRING, **wrong})
            try:
                store = broken.get("/status").json()["secrets"]
                assert store["ok"] is False and store["error"]["code"] == "secrets_unavailable", store
                job = broken.run("demo.sync", {"account_id": "acme", "page_size": 10})
                assert job["status"] == "failed" and job["error"]["code"] == "secrets_unavailable", job
                account = broken.get("/plugins/demo/accounts/acme").json()
                assert account["status"] == "active", account
                refused = broken.post("/plugins/demo/accounts/acme/resync")
                assert refused.status_code == 200, refused.text  # no secret needed: still works
                patched = broken.request(
                    "PATCH",
                    "/plugins/demo/accounts/acme",
                    json={"settings": {"refresh_token": "new-token-x"}},
                )
                assert patched.status_code == 503 and patched.json()["error"]["code"] == "secrets_unavailable"
            finally:
                assert broken.stop() == 0
            suite_figures.count(SUITE, "unreadable secret stores reported as such")
        healed = start_host(data_dir, plugins=["demo"], env={**FAIL_KEYRING, "BACKEND_SECRET_KEY": key})
        try:
            assert healed.get("/status").json()["secrets"]["ok"] is True
            job = healed.run("demo.sync", {"account_id": "acme", "page_size": 10})
            assert job["status"] == "succeeded", (job, healed.job_events(job["job_id"]))
        finally:
            healed.close()
