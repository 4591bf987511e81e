"""Fuzzing the REST API with schemathesis: every operation of the real host's `/openapi.json`
(the `demo` plugin's routes included) gets generated requests, valid and invalid by the
schema, and every response must be no 5xx and must match what the document promises
(status code, content type, headers, body schema).

Schemathesis is used through its Python API, so this runs under `uv run pytest`. Failures are
collected, not raised one by one, so one run reports every distinct finding; the test fails at
the end if there is any. `ENTTOK_FUZZ_SEED` changes the (otherwise fixed) generation seed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from enttok.api.inputs import MAX_DEPTH
from enttok.api.stream import RESYNC
from enttok.testing import RunningHost, SuiteFigures, start_host

SEED = int(os.environ.get("ENTTOK_FUZZ_SEED", "20251223"))
MIN_REQUESTS = 1000
# Generated cases per operation and mode (negative: invalid by the schema, the token left out
# included): with the 19 HTTP operations of the demo host, about 2,000 in all.
POSITIVE_EXAMPLES = 60
NEGATIVE_EXAMPLES = 50
# Cases per operation and real id: generated ids almost never name an existing job or account,
# so each operation on a job or an account also gets cases on real ones.
KNOWN_ID_EXAMPLES = 10
# Not HTTP: schemathesis cannot speak WebSocket.
EXCLUDED = {("GET", "/events")}
# Not with a real id: DELETE would remove the account the other operations use, and PATCH could
# point it at another `base_url`, which POST .../test would then connect to.
NO_KNOWN_IDS = {"DELETE", "PATCH"}
# Where the real account's API "is": a closed loopback port, so /test fails to connect, locally.
CLOSED_LOOPBACK_URL = "http://127.0.0.1:9"

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.negative_data_rejection,
    schemathesis.checks.ignored_auth,
]
# Checks schemathesis has that this test does not run, and why.
SKIPPED_CHECKS = {
    "positive_data_acceptance": (
        "the document cannot say which bodies the host accepts beyond their shape: a job `type` "
        "must name a registered job type and its `payload` must match that type's own JSON Schema "
        "(GET /plugins), and generated ids name no existing job or account, so schema-valid "
        "requests get a documented 404/409/422 by design"
    ),
    "use_after_free": "stateful: needs a recorded sequence of linked operations, not single requests",
    "ensure_resource_availability": "stateful: needs a recorded sequence of linked operations",
    "missing_required_header": "runs only in schemathesis's coverage phase, which this test does not use",
    "unsupported_method": "runs only in schemathesis's coverage phase, which this test does not use",
    "max_response_time": "no response-time limit is configured; timing is not what this test is about",
}


# -- no network but loopback


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX and friends: local by nature
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection to a non-loopback address fails while the fuzzer runs."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise PermissionError(f"test_fuzz: network access to {address!r} is blocked")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise PermissionError(f"test_fuzz: network access to {address!r} is blocked")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


# -- the host


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("fuzz"), plugins=["demo"])
    try:
        yield running
    finally:
        running.close()


def _known_ids(host: RunningHost) -> dict[str, list[str]]:
    """Real path ids: a job that stays queued, one that ended, and a demo account."""
    queued = host.submit("demo.sleep", {"seconds": 1}, run_after="2999-01-01T00:00:00Z")
    ended = host.run("demo.noop")["job_id"]
    response = host.post(
        "/plugins/demo/accounts",
        json={"account_id": "fuzz", "settings": {"base_url": CLOSED_LOOPBACK_URL}},
    )
    assert response.status_code == 201, response.text
    return {"job_id": [queued, ended], "account_id": ["fuzz"]}


def test_fuzz_every_operation(host: RunningHost, loopback_only: None, suite_figures: SuiteFigures) -> None:
    # The document comes from the host itself (httpx, no proxies), then schemathesis reads it.
    document = host.get("/openapi.json")
    assert document.status_code == 200, document.text
    # The token as the document's own `token` security scheme, so schemathesis knows it is the
    # credential (and leaves it out on purpose where it checks that auth is enforced).
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"token": {"api_key": host.token}}}})
    schema = schemathesis.openapi.from_dict(document.json(), config=config)

    session = requests.Session()
    session.trust_env = False  # no proxy settings from the environment: straight to 127.0.0.1
    sent = [0]  # HTTP requests that went through the session

    def count(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        sent[0] += 1
        return response

    session.hooks["response"].append(count)
    transport = {"base_url": host.url, "session": session, "timeout": 30}

    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation schemathesis cannot read is itself a finding
        if (operation.method.upper(), operation.path) not in EXCLUDED:
            operations.append(operation)
    assert len(operations) >= 15, [op.label for op in operations]

    known_ids = _known_ids(host)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)  # operation -> status code -> count
    findings: dict[tuple[str, str], str] = {}  # (operation, failure title) -> its first report
    started = time.monotonic()
    for operation in operations:
        modes = [(GenerationMode.POSITIVE, POSITIVE_EXAMPLES)]
        if list(operation.iter_parameters()) or operation.body:
            modes.append((GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))
        strategies = [(operation.as_strategy(generation_mode=mode), examples) for mode, examples in modes]
        names = [parameter.name for parameter in operation.path_parameters]
        if names and operation.method.upper() not in NO_KNOWN_IDS:
            for value in known_ids.get(names[0], []):
                fixed = operation.as_strategy(path_parameters={names[0]: value})
                strategies.append((fixed, KNOWN_ID_EXAMPLES))
        for strategy, examples in strategies:

            @seed(SEED)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # failures are collected, so nothing to shrink
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                label = case.operation.label
                response = case.call(**transport)
                statuses[label][response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS, transport_kwargs=transport)
                except schemathesis.errors.FailureGroup as group:
                    for failure in group.exceptions:
                        findings.setdefault((label, failure.title), str(group))

            run()
    elapsed = time.monotonic() - started

    cases = sum(counter.total() for counter in statuses.values())
    print(f"\nfuzz: seed {SEED}, {len(operations)} operations, {cases} generated requests in {elapsed:.1f}s")
    print(f"fuzz: {sent[0]} HTTP requests sent in all")
    for label, counter in sorted(statuses.items()):
        print(f"fuzz:   {counter.total():4d}  {label:50s} {dict(sorted(counter.items()))}")
    print(f"fuzz: checks not run: {', '.join(sorted(SKIPPED_CHECKS))}")
    for (label, title), report in findings.items():
        print(f"\n==== {label}: {title}\n{report}")

    # The token really went out: every operation got answers past the auth check.
    unauthenticated = [label for label, counter in statuses.items() if not set(counter) - {401, 403}]
    assert not unauthenticated, unauthenticated
    assert set(statuses) == {operation.label for operation in operations}, "an operation got no request"
    assert host.process.poll() is None, f"the host died: {host.stderr_tail()}"
    assert not findings, f"{len(findings)} distinct findings: {sorted(findings)}"
    assert cases >= MIN_REQUESTS, f"only {cases} generated requests"
    server_errors = sum(n for counter in statuses.values() for status, n in counter.items() if status >= 500)
    suite_figures.count("fuzz", "generated requests answered as documented", cases)
    suite_figures.count("fuzz", "operations covered", len(statuses))
    suite_figures.count("fuzz", "HTTP requests sent", sent[0])
    suite_figures.count("fuzz", "5xx answers", server_errors)
    suite_figures.note("fuzz", f"seed {SEED}")


# -- hostile input the generator does not reach: each kind sent to every route that takes it

HOSTILE = "fuzz"  # the suite these figures go to
# Every route that reads a JSON body, with a body it would accept; `{}` marks where the
# hostile value goes (a payload field, a setting, an account field).
BODY_ROUTES = [
    ("POST", "/jobs", lambda v: {"type": "demo.sleep", "payload": {"seconds": v}}),
    ("POST", "/jobs", lambda v: {"type": "demo.noop", "payload": {}, "dedupe_key": v}),
    ("POST", "/settings", lambda v: {"plugins": {"demo": {"note": v}}}),
    ("POST", "/plugins/demo/accounts", lambda v: {"account_id": "hostile", "settings": {"base_url": v}}),
    ("PATCH", "/plugins/demo/accounts/fuzz-hostile", lambda v: {"settings": {"base_url": v}}),
]
BODY_IDS = ["jobs-payload", "jobs-dedupe_key", "settings", "accounts-create", "accounts-patch"]
# Raw JSON text: what a JSON encoder would refuse to write is sent as bytes.
UNSTORABLE_TEXT = {
    "lone high surrogate": r'"a\ud800b"',
    "lone low surrogate": r'"\udfff"',
    "reversed pair": r'"\udc00\ud800"',
    "NUL": r'"a\u0000b"',
}


@pytest.fixture(scope="module")
def hostile_account(host: RunningHost) -> str:
    response = host.post(
        "/plugins/demo/accounts",
        json={"account_id": "fuzz-hostile", "settings": {"base_url": CLOSED_LOOPBACK_URL}},
    )
    assert response.status_code == 201, response.text
    return "fuzz-hostile"


def send_json_text(host: RunningHost, method: str, path: str, text: str) -> httpx.Response:
    return host.request(method, path, content=text.encode(), headers={"Content-Type": "application/json"})


def reads_still_work(host: RunningHost) -> None:
    """Every list a poisoned row could break answers 200 with JSON."""
    for path in ("/jobs?limit=500", "/settings", "/plugins/demo/accounts", "/activity/events", "/status"):
        response = host.get(path)
        assert response.status_code == 200, (path, response.text)
        response.json()


@pytest.mark.parametrize(("method", "path", "make"), BODY_ROUTES, ids=BODY_IDS)
@pytest.mark.parametrize("kind", UNSTORABLE_TEXT)
def test_unstorable_text_is_refused_before_anything_is_written(
    host: RunningHost,
    hostile_account: str,
    method: str,
    path: str,
    make: Any,
    kind: str,
    suite_figures: SuiteFigures,
) -> None:
    jobs_before = host.get("/jobs?limit=500").json()["jobs"]
    accounts_before = host.get("/plugins/demo/accounts").json()
    marker = '"__HOSTILE__"'
    text = json.dumps(make("__HOSTILE__")).replace(marker, UNSTORABLE_TEXT[kind])
    response = send_json_text(host, method, path, text)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"], error  # the field is named
    assert error["details"][0]["type"] in ("lone_surrogate", "nul_character"), error
    assert host.get("/jobs?limit=500").json()["jobs"] == jobs_before
    assert host.get("/plugins/demo/accounts").json() == accounts_before
    reads_still_work(host)
    suite_figures.count(HOSTILE, f"hostile bodies refused: {kind}")


def test_a_key_with_a_surrogate_is_refused(host: RunningHost, suite_figures: SuiteFigures) -> None:
    response = send_json_text(host, "POST", "/jobs", r'{"type": "demo.noop", "payload": {"\ud800": 1}}')
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["type"] == "lone_surrogate"
    suite_figures.count(HOSTILE, "hostile bodies refused: lone high surrogate")


def test_a_row_stored_before_the_check_cannot_break_a_read(
    host: RunningHost, suite_figures: SuiteFigures
) -> None:
    """A surrogate written straight to the database (an older host, a plugin) is sent back
    escaped, readable, instead of failing every later read of the list."""
    database = sqlite3.connect(host.data_dir / "data" / "index.db", timeout=30)
    try:
        with database:
            database.execute(
                "INSERT INTO accounts (plugin, account_id, data_json, secret_fields, status, created_at,"
                " updated_at) VALUES ('demo', 'poisoned', ?, '[]', 'active', '2026-01-01', '2026-01-01')",
                (json.dumps({"base_url": "x\ud800y"}),),
            )
    finally:
        database.close()
    listed = host.get("/plugins/demo/accounts")
    assert listed.status_code == 200, listed.text
    poisoned = [a for a in listed.json()["accounts"] if a["account_id"] == "poisoned"]
    assert poisoned[0]["settings"]["base_url"] == "x\ud800y"
    assert host.get("/plugins/demo/accounts/poisoned").status_code == 200
    assert host.request("DELETE", "/plugins/demo/accounts/poisoned").status_code == 200
    suite_figures.count(HOSTILE, "poisoned rows read back")


@pytest.mark.parametrize(("method", "path", "make"), BODY_ROUTES, ids=BODY_IDS)
def test_deep_nesting_is_refused_before_parsing(
    host: RunningHost, hostile_account: str, method: str, path: str, make: Any, suite_figures: SuiteFigures
) -> None:
    marker = '"__HOSTILE__"'
    for depth in (MAX_DEPTH + 1, 1_000, 100_000):
        text = json.dumps(make("__HOSTILE__")).replace(marker, "[" * depth + "]" * depth)
        response = send_json_text(host, method, path, text)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "too_deeply_nested"
        suite_figures.count(HOSTILE, "hostile bodies refused: deep nesting")
    # The limit is on the whole body: the route's own wrapping counts, so just under it parses.
    shallow = json.dumps(make("__HOSTILE__")).replace(marker, "[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4))
    assert send_json_text(host, method, path, shallow).status_code == 422


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1" + "0" * 5000, "1" * 4000, "123456789012345678901234567890"]
)
def test_huge_numbers_get_a_4xx(host: RunningHost, number: str, suite_figures: SuiteFigures) -> None:
    for method, path, make in BODY_ROUTES:
        text = json.dumps(make("__HOSTILE__")).replace('"__HOSTILE__"', number)
        response = send_json_text(host, method, path, text)
        assert 400 <= response.status_code < 500, (path, response.text[:300])
        suite_figures.count(HOSTILE, "hostile bodies refused: huge number")


def test_a_body_that_is_not_declared_json_is_refused(host: RunningHost, suite_figures: SuiteFigures) -> None:
    body = json.dumps({"type": "demo.noop", "payload": {}})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = host.post("/jobs", content=body.encode(), headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        assert "application/json" in response.json()["error"]["message"]
        suite_figures.count(HOSTILE, "hostile bodies refused: not declared JSON")
    accepted = host.post(
        "/jobs", content=body.encode(), headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize("length", [8_000, 60_000, 1_000_000])
@pytest.mark.parametrize("where", ["path", "query"])
def test_long_urls_get_no_5xx(
    host: RunningHost, length: int, where: str, suite_figures: SuiteFigures
) -> None:
    """Over a raw socket: httpx itself refuses URLs this long."""
    target = "/jobs/job_" + "a" * length if where == "path" else "/jobs?type=" + "a" * length
    request = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\n"
        f"X-Backend-Token: {host.token}\r\nConnection: close\r\n\r\n"
    )
    answer = b""
    with socket.create_connection(("127.0.0.1", host.port), timeout=30) as sock:
        try:
            sock.sendall(request.encode())
            while chunk := sock.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-request: no answer is no harm, as long as the host lives on
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:300]
    assert host.get("/health").status_code == 200
    suite_figures.count(HOSTILE, "hostile URLs answered without a 5xx")


ODD_SINCE = ["%C2%B2", "%D9%A3", "9" * 5000, str(10**30), str(2**63), "-1", "1.5", "", "%201", "0x10", "1e3"]


@pytest.mark.parametrize("since", ODD_SINCE)
def test_odd_since_is_refused_with_a_400(host: RunningHost, since: str, suite_figures: SuiteFigures) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(host, f"?since={since}").close()
    answer = refused.value.response
    assert answer.status_code == 400, answer.body
    assert json.loads(answer.body)["error"]["details"][0]["field"] == "since"
    suite_figures.count(HOSTILE, "odd since values refused")


@pytest.mark.parametrize("batch", ["2", "true", "", "%C2%B9", "1" * 500])
def test_odd_batch_is_refused_with_a_400(host: RunningHost, batch: str, suite_figures: SuiteFigures) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(host, f"?batch={batch}").close()
    answer = refused.value.response
    assert answer.status_code == 400, answer.body
    error = json.loads(answer.body)["error"]
    assert (error["code"], error["details"][0]["field"]) == ("invalid_batch", "batch")
    suite_figures.count(HOSTILE, "odd batch values refused")


def test_since_ahead_of_the_stream_says_resync(host: RunningHost, suite_figures: SuiteFigures) -> None:
    """A `since` from another history (a data reset): the host closes with 4000 and names its
    newest seq, instead of waiting silently for events that will never come."""
    job = host.run("demo.noop")
    newest = host.job_events(job["job_id"])[-1]["seq"]  # the stream has at least this much
    for since in (2**63 - 1, 10**12, None):
        since = newest + 1 if since is None else since  # the smallest since that is ahead
        with ws_connect(host, f"?since={since}") as connection, pytest.raises(ConnectionClosed) as closed:
            connection.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == RESYNC, closed.value
        newest = int(closed.value.rcvd.reason.rsplit("newest=", 1)[1])
        assert newest >= job_events_seq(host, job["job_id"])
        suite_figures.count(HOSTILE, "since ahead of the stream: resync asked")
    # `since` equal to the newest seq is fine: the socket stays open, with nothing to send yet.
    with ws_connect(host, f"?since={newest}") as connection, pytest.raises(TimeoutError):
        connection.recv(timeout=0.5)


def job_events_seq(host: RunningHost, job_id: str) -> int:
    return host.job_events(job_id)[-1]["seq"]


def ws_connect(host: RunningHost, query: str) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{host.port}/events{query}",
        additional_headers={"X-Backend-Token": host.token},
        proxy=None,
        open_timeout=10,
    )


def test_a_switch_for_an_unknown_schedule_is_refused(host: RunningHost, suite_figures: SuiteFigures) -> None:
    before = host.get("/settings").json()
    refused = host.post("/settings", json={"host": {"schedules": {"nope.never": False}}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "host.schedules.nope.never"
    assert host.get("/settings").json() == before
    known = host.post("/settings", json={"host": {"schedules": {"maintenance.daily-compact": True}}})
    assert known.status_code == 200, known.text
    suite_figures.count(HOSTILE, "hostile bodies refused: unknown schedule id")


@pytest.mark.parametrize("path", ["/plugins/demo/accounts", "/plugins/demo/accounts/fuzz-hostile", "/jobs"])
def test_405_names_the_methods_allowed(
    host: RunningHost, hostile_account: str, path: str, suite_figures: SuiteFigures
) -> None:
    response = host.request("PUT", path)
    assert response.status_code == 405, response.text
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert "GET" in allowed and allowed <= {"GET", "HEAD", "POST", "PATCH", "DELETE"}, allowed
    assert "use ." not in response.json()["error"]["message"]
    suite_figures.count(HOSTILE, "405 answers naming their methods")
