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
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode

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
