"""The REST API of docs/api.md against a real host: bad input, job listing, status, plugins,
the OpenAPI document, settings and the activity timeline."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enttok.testing import TERMINAL, RunningHost, start_host

TOKEN_HEADER = "X-Backend-Token"
FAR_FUTURE = "2999-01-01T00:00:00Z"
HOST_ROUTES = {
    "/health": {"get"},
    "/status": {"get"},
    "/jobs": {"get", "post"},
    "/jobs/{job_id}": {"get"},
    "/jobs/{job_id}/events": {"get"},
    "/jobs/{job_id}/cancel": {"post"},
    "/settings": {"get", "post"},
    "/plugins": {"get"},
    "/activity/events": {"get"},
}


# -- fixtures and helpers


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """One host for the checks that leave no trace another test could see."""
    running = start_host(tmp_path_factory.mktemp("api"), plugins=["demo"])
    yield running
    running.close()


def client_of(host: RunningHost) -> httpx.Client:
    """A client with the token. Plain HTTP to 127.0.0.1: no proxy from the environment, and
    no TLS context to build (`verify=False` saves ~25 ms a client; nothing here uses TLS)."""
    return httpx.Client(
        base_url=host.url, headers={TOKEN_HEADER: host.token}, trust_env=False, verify=False, timeout=30
    )


@pytest.fixture
def api(host: RunningHost) -> Iterator[httpx.Client]:
    """A client of its own per test: a host that answers 500 drops the connection, and that
    must not turn into a confusing failure in the next test."""
    with client_of(host) as client:
        yield client


def assert_error(
    response: httpx.Response, status: int | tuple[int, ...], field: str | None = None
) -> dict[str, Any]:
    """The contract's error shape, with `field` named in the details or the message."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), error
    assert isinstance(error["message"], str) and error["message"], error
    if field is not None:
        named = {p.get("field") for p in error.get("details") or [] if isinstance(p, dict)}
        assert (
            any(n == field or str(n).startswith(f"{field}.") for n in named) or field in error["message"]
        ), f"{field!r} is not named in {error}"
    return error


def poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """Read until `until(value)` holds; the last value either way."""
    deadline = time.monotonic() + timeout
    while not until(value := read()) and time.monotonic() < deadline:
        pass
    return value


# -- bad input: never a 500, always the field


JOB_BODIES = {
    "unknown type": ({"type": "nope.nothing", "payload": {}}, 422, "type"),
    "type missing": ({"payload": {}}, 422, "type"),
    "type not a string": ({"type": 5, "payload": {}}, 422, "type"),
    "type empty": ({"type": "", "payload": {}}, 422, "type"),
    "seconds wrong type": ({"type": "demo.sleep", "payload": {"seconds": "long"}}, 422, "payload.seconds"),
    "seconds missing": ({"type": "demo.sleep", "payload": {"steps": 2}}, 422, "payload.seconds"),
    "seconds out of range": ({"type": "demo.sleep", "payload": {"seconds": -1}}, 422, "payload.seconds"),
    "payload extra field": (
        {"type": "demo.sleep", "payload": {"seconds": 0, "bogus": 1}},
        422,
        "payload.bogus",
    ),
    "payload not an object": ({"type": "demo.noop", "payload": [1]}, 422, "payload"),
    "payload null": ({"type": "demo.noop", "payload": None}, 422, "payload"),
    "extra top-level field": ({"type": "demo.noop", "payload": {}, "priority": 1}, 422, "priority"),
    "run_after without zone": ({"type": "demo.noop", "run_after": "2030-01-01T00:00:00"}, 422, "run_after"),
    "run_after not a time": ({"type": "demo.noop", "run_after": "tomorrow"}, 422, "run_after"),
    "run_after beyond year 9999 in UTC": (
        {"type": "demo.noop", "run_after": "9999-12-31T23:00:00-05:00"},
        422,
        "run_after",
    ),
    "run_after before year 1 in UTC": (
        {"type": "demo.noop", "run_after": "0001-01-01T00:00:00+01:00"},
        422,
        "run_after",
    ),
    "dedupe_key empty": ({"type": "demo.noop", "dedupe_key": ""}, 422, "dedupe_key"),
}


@pytest.mark.parametrize(("body", "status", "field"), JOB_BODIES.values(), ids=JOB_BODIES.keys())
def test_submit_refuses_bad_input_naming_the_field(
    api: httpx.Client, body: Any, status: int, field: str
) -> None:
    assert_error(api.post("/jobs", json=body), status, field)


RAW_BODIES = {
    "not JSON": (b"{not json", 400),
    "not UTF-8": (b'{"type": "\xff"}', 400),
    "a JSON array": (b'[{"type": "demo.noop"}]', 422),
    "a JSON string": (b'"demo.noop"', 422),
    "JSON null": (b"null", 422),
    "empty": (b"", (400, 422)),
    "over 1 MiB": (b'{"type": "demo.noop", "payload": {"x": "' + b"x" * (1024 * 1024) + b'"}}', 413),
}


@pytest.mark.parametrize("path", ["/jobs", "/settings"])
@pytest.mark.parametrize(("raw", "status"), RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_body_that_is_not_a_json_object_is_refused(
    api: httpx.Client, path: str, raw: bytes, status: int | tuple[int, ...]
) -> None:
    assert_error(api.post(path, content=raw, headers={"content-type": "application/json"}), status)


NON_FINITE = ("1e400", "-1e400", "Infinity", "NaN")


def post_raw(host: RunningHost, path: str, raw: str) -> httpx.Response:
    """POST `raw` as JSON on a connection of its own (a 500 closes the connection)."""
    with client_of(host) as client:
        return client.post(path, content=raw, headers={"content-type": "application/json"})


def test_non_finite_number_in_a_payload_is_refused(enttok_host: Callable[..., RunningHost]) -> None:
    """1e400 is valid JSON that Python reads as infinity; a job stored with it could never be
    serialised again, and GET /jobs would answer 500 for as long as the job is listed."""
    host = enttok_host(name="infinite-payload", plugins=["demo"])
    answers = {
        literal: post_raw(
            host,
            "/jobs",
            '{"type": "maintenance.compact", "run_after": "' + FAR_FUTURE + '",'
            ' "payload": {"retention_days": ' + literal + "}}",
        ).status_code
        for literal in NON_FINITE
    }
    assert all(status in (400, 422) for status in answers.values()), answers
    assert host.get("/jobs").status_code == 200


QUERIES = {
    "limit 0": ("/jobs", {"limit": "0"}, "limit"),
    "limit over 500": ("/jobs", {"limit": "501"}, "limit"),
    "limit not a number": ("/jobs", {"limit": "ten"}, "limit"),
    "status unknown": ("/jobs", {"status": "bogus"}, "status"),
    "status given twice": ("/jobs", [("status", "queued"), ("status", "failed")], "status"),
    "unknown parameter": ("/jobs", {"sort": "asc"}, "sort"),
    "activity from not a time": ("/activity/events", {"from": "yesterday"}, "from"),
    "activity from without zone": ("/activity/events", {"from": "2026-01-01T00:00:00"}, "from"),
    "activity to not a time": ("/activity/events", {"to": "2026-13-01T00:00:00Z"}, "to"),
    "activity from beyond year 9999 in UTC": (
        "/activity/events",
        {"from": "9999-12-31T23:00:00-05:00"},
        "from",
    ),
    "activity limit 0": ("/activity/events", {"limit": "0"}, "limit"),
    "activity limit over 1000": ("/activity/events", {"limit": "1001"}, "limit"),
    "activity unknown parameter": ("/activity/events", {"until": "2026-01-01T00:00:00Z"}, "until"),
}


@pytest.mark.parametrize(("path", "params", "field"), QUERIES.values(), ids=QUERIES.keys())
def test_bad_query_parameter_is_refused_naming_it(
    api: httpx.Client, path: str, params: Any, field: str
) -> None:
    assert_error(api.get(path, params=params), 422, field)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/jobs/{missing}"), ("GET", "/jobs/{missing}/events"), ("POST", "/jobs/{missing}/cancel")],
)
def test_unknown_job_is_404(api: httpx.Client, method: str, path: str) -> None:
    missing = "job_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    error = assert_error(api.request(method, path.format(missing=missing)), 404)
    assert missing in error["message"]


@pytest.mark.parametrize("path", ["/nope", "/jobs/a/b/c", "/plugins/nope/route"])
def test_unknown_route_is_404_json(api: httpx.Client, path: str) -> None:
    assert_error(api.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/jobs"),
        ("PUT", "/jobs/job_x"),
        ("GET", "/jobs/job_x/cancel"),
        ("PATCH", "/settings"),
        ("POST", "/status"),
        ("DELETE", "/activity/events"),
        ("POST", "/openapi.json"),
    ],
)
def test_wrong_method_is_405_json(api: httpx.Client, method: str, path: str) -> None:
    assert_error(api.request(method, path), 405)


@pytest.mark.parametrize("path", ["/jobs", "/settings"])
def test_405_lists_every_allowed_method(api: httpx.Client, path: str) -> None:
    """RFC 9110 15.5.6: a 405 carries an Allow header with the resource's methods."""
    response = api.delete(path)
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers.get("allow", "").split(",")}
    assert {"GET", "POST"} <= allowed, response.headers.get("allow")


# -- submit, read, cancel


def test_submit_read_and_cancel_a_job(api: httpx.Client) -> None:
    created = api.post(
        "/jobs", json={"type": "demo.sleep", "payload": {"seconds": 1}, "run_after": FAR_FUTURE}
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "queued"
    job_id = created.json()["job_id"]
    job = api.get(f"/jobs/{job_id}").json()
    assert job["job_id"] == job_id and job["type"] == "demo.sleep" and job["status"] == "queued"
    assert job["payload"] == {"seconds": 1.0, "steps": 1}  # validated, defaults filled in
    assert job["run_after"].startswith("2999-01-01T00:00:00") and job["run_after"].endswith("Z")
    contract_fields = {"created_at", "updated_at", "attempt", "max_attempts", "progress", "message"}
    assert contract_fields | {"result", "error"} <= set(job)

    canceled = api.post(f"/jobs/{job_id}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert_error(api.post(f"/jobs/{job_id}/cancel"), 409)
    events = api.get(f"/jobs/{job_id}/events").json()["events"]
    assert [e["status"] for e in events if e["type"] == "job.status"] == ["queued", "canceled"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_dedupe_key_returns_the_live_job(api: httpx.Client) -> None:
    body = {"type": "demo.noop", "dedupe_key": "api-dedupe", "run_after": FAR_FUTURE}
    first = api.post("/jobs", json=body)
    assert first.status_code == 201, first.text
    second = api.post("/jobs", json=body)
    assert second.status_code == 200, second.text
    assert second.json()["job_id"] == first.json()["job_id"]
    api.post(f"/jobs/{first.json()['job_id']}/cancel")
    third = api.post("/jobs", json=body)
    assert third.status_code == 201 and third.json()["job_id"] != first.json()["job_id"]
    api.post(f"/jobs/{third.json()['job_id']}/cancel")


# -- job listing


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningHost, dict[str, list[str]]]]:
    """A host holding a known set of jobs, in creation order by kind."""
    running = start_host(tmp_path_factory.mktemp("listing"), plugins=["demo"])
    kinds: dict[str, list[str]] = {"all": []}

    def submit(kind: str, job_type: str, payload: dict[str, Any] | None = None, **fields: Any) -> str:
        job_id = running.submit(job_type, payload, **fields)
        kinds.setdefault(kind, []).append(job_id)
        kinds["all"].append(job_id)
        return job_id

    try:
        with running.events() as stream:
            for kind, job_type, payload in [
                ("succeeded", "demo.noop", None),
                ("failed", "demo.fail", {"message": "one"}),
                ("succeeded", "demo.noop", None),
                ("failed", "demo.fail", {"message": "two"}),
                ("succeeded", "demo.noop", None),
            ]:
                submit(kind, job_type, payload)
            pending = set(kinds["succeeded"] + kinds["failed"])
            while pending:
                event = stream.wait_for(
                    lambda e: e["type"] == "job.status" and e["job_id"] in pending and e["status"] in TERMINAL
                )
                pending.discard(event["job_id"])
        submit("queued", "demo.sleep", {"seconds": 1}, run_after=FAR_FUTURE)
        canceled = submit("canceled", "demo.sleep", {"seconds": 1}, run_after=FAR_FUTURE)
        assert running.post(f"/jobs/{canceled}/cancel").json()["status"] == "canceled"
        yield running, kinds
    finally:
        running.close()


def listed(host: RunningHost, **params: Any) -> list[str]:
    response = host.get("/jobs", params=params)
    assert response.status_code == 200, response.text
    return [job["job_id"] for job in response.json()["jobs"]]


def test_list_is_newest_first(listing: tuple[RunningHost, dict[str, list[str]]]) -> None:
    host, kinds = listing
    jobs = host.get("/jobs").json()["jobs"]
    assert [job["job_id"] for job in jobs] == kinds["all"][::-1]
    created = [job["created_at"] for job in jobs]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "succeeded"}, "succeeded"),
        ({"status": "failed"}, "failed"),
        ({"status": "queued"}, "queued"),
        ({"status": "canceled"}, "canceled"),
        ({"status": "running"}, None),
        ({"type": "demo.fail"}, "failed"),
        ({"type": "demo.noop", "status": "succeeded"}, "succeeded"),
        ({"type": "demo.noop", "status": "failed"}, None),
        ({"type": "nope.nothing"}, None),
    ],
)
def test_list_filters(
    listing: tuple[RunningHost, dict[str, list[str]]], params: dict[str, str], expected: str | None
) -> None:
    host, kinds = listing
    assert listed(host, **params) == (kinds[expected][::-1] if expected else [])


def test_list_filter_by_type_keeps_order(listing: tuple[RunningHost, dict[str, list[str]]]) -> None:
    host, kinds = listing
    assert listed(host, type="demo.sleep") == [kinds["canceled"][0], kinds["queued"][0]]


def test_list_limit(listing: tuple[RunningHost, dict[str, list[str]]]) -> None:
    host, kinds = listing
    page = host.get("/jobs", params={"limit": 2}).json()
    assert [job["job_id"] for job in page["jobs"]] == kinds["all"][::-1][:2]
    assert page["next_before"] == kinds["all"][-2]
    everything = host.get("/jobs", params={"limit": 500}).json()
    assert len(everything["jobs"]) == len(kinds["all"])
    assert everything["next_before"] is None


@pytest.mark.parametrize(("limit", "params"), [(1, {}), (2, {}), (3, {}), (2, {"type": "demo.noop"})])
def test_list_pages_with_before(
    listing: tuple[RunningHost, dict[str, list[str]]], limit: int, params: dict[str, str]
) -> None:
    host, kinds = listing
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"before": cursor} if cursor else {})}
        page = host.get("/jobs", params=query).json()
        pages.append([job["job_id"] for job in page["jobs"]])
        assert len(pages[-1]) <= limit
        if page["next_before"] is None:
            break
        assert page["next_before"] == pages[-1][-1]
        cursor = page["next_before"]
        assert len(pages) <= len(kinds["all"]) + 1, "paging does not end"
    expected = kinds["succeeded"][::-1] if params else kinds["all"][::-1]
    assert [job_id for page in pages for job_id in page] == expected


# -- status, plugins, OpenAPI


def scheduler_started(api: httpx.Client, timeout: float = 10) -> dict[str, Any]:
    """/status once the scheduler runs: it starts after the ready line, APScheduler loading in
    a thread, and no event marks it, so this polls the state, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        status = api.get("/status").json()
        if status["scheduler"]["running"] or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


def test_status_shape(api: httpx.Client) -> None:
    status = scheduler_started(api)
    assert isinstance(status["uptime_sec"], int | float) and status["uptime_sec"] >= 0
    assert isinstance(status["queue_depth"], int) and status["queue_depth"] >= 0
    assert {"active", "idle"} <= set(status["workers"])
    assert all(
        isinstance(status["workers"][k], int) and status["workers"][k] >= 0 for k in ("active", "idle")
    )
    assert status["scheduler"]["running"] is True
    schedules = {job["id"]: job for job in status["scheduler"]["jobs"]}
    assert schedules["maintenance.daily-compact"]["job_type"] == "maintenance.compact"
    assert set(status["plugins"]["loaded"]) == {"demo", "maintenance"}
    assert status["plugins"]["failed"] == []


def test_status_counts_open_event_streams(host: RunningHost, api: httpx.Client) -> None:
    """A WebSocket client that leaves is let go at once, not when the next event happens
    to be sent to it (until then the host keeps a dead subscriber, and waits for it on
    shutdown)."""

    def subscribers() -> int:
        return api.get("/status").json()["event_subscribers"]

    before = subscribers()
    with host.events():
        assert poll(subscribers, lambda n: n == before + 1) == before + 1
    assert poll(subscribers, lambda n: n == before, timeout=5) == before


def test_plugins_lists_demo_and_maintenance(api: httpx.Client) -> None:
    plugins = {plugin["name"]: plugin for plugin in api.get("/plugins").json()["plugins"]}
    assert set(plugins) == {"demo", "maintenance"}
    for plugin in plugins.values():
        assert plugin["state"] == "loaded" and plugin["error"] is None, plugin
        assert isinstance(plugin["version"], str) and plugin["version"], plugin
    job_types = {t["name"]: t for p in plugins.values() for t in p["job_types"]}
    assert {"demo.noop", "demo.sleep", "demo.fail", "maintenance.compact"} <= set(job_types)
    for job_type in job_types.values():
        assert job_type["payload_schema"]["type"] == "object", job_type
    sleep = job_types["demo.sleep"]["payload_schema"]
    assert sleep["properties"]["seconds"]["type"] == "number"
    assert sleep["properties"]["steps"]["type"] == "integer"
    assert sleep["required"] == ["seconds"]
    assert [s["id"] for s in plugins["maintenance"]["schedules"]] == ["maintenance.daily-compact"]


def refs_in(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "$ref":
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(document, list):
        for item in document:
            yield from refs_in(item)


def test_openapi_document_describes_every_route(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]
    for path, methods in HOST_ROUTES.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), (path, document["paths"][path].keys())
        for operation in document["paths"][path].values():
            assert operation["responses"], (path, operation)
    schemas = document["components"]["schemas"]
    refs = set(refs_in(document))
    assert refs, "no schema is referenced"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    job_parameters = document["paths"]["/jobs/{job_id}"]["get"]["parameters"]
    assert {"name": "job_id", "in": "path", "required": True}.items() <= job_parameters[0].items()
    listing = {p["name"] for p in document["paths"]["/jobs"]["get"]["parameters"] if p["in"] == "query"}
    assert listing == {"status", "type", "limit", "before"}
    activity = {p["name"] for p in document["paths"]["/activity/events"]["get"]["parameters"]}
    assert {"from", "to", "source", "account_id", "limit"} <= activity
    assert "requestBody" in document["paths"]["/jobs"]["post"]
    assert "token" in document["components"]["securitySchemes"]


# -- settings


def test_settings_shape(api: httpx.Client) -> None:
    settings = api.get("/settings").json()
    assert {"workers", "max_queue_depth", "schedules"} <= set(settings["host"])
    assert "retention_days" in settings["plugins"]["maintenance"]
    assert "retention_days" in settings["plugins"]["maintenance"]


INVALID_SETTINGS = {
    "workers 0": ({"host": {"workers": 0}}, "host.workers"),
    "workers not a number": ({"host": {"workers": "many"}}, "host.workers"),
    "one bad field among good": ({"host": {"workers": 5, "max_queue_depth": 0}}, "host.max_queue_depth"),
    "unknown host field": ({"host": {"bogus": 1}}, "host.bogus"),
    "host not an object": ({"host": [1]}, "host"),
    "schedule switch not a bool": (
        {"host": {"schedules": {"maintenance.daily-compact": "maybe"}}},
        "host.schedules",
    ),
    "unknown plugin": ({"plugins": {"nope": {}}}, "plugins.nope"),
    "bad plugin field": (
        {"plugins": {"maintenance": {"retention_days": -1}}},
        "plugins.maintenance.retention_days",
    ),
    "unknown section": ({"bogus": {}}, "bogus"),
}


@pytest.mark.parametrize(("change", "field"), INVALID_SETTINGS.values(), ids=INVALID_SETTINGS.keys())
def test_invalid_settings_are_refused_and_nothing_is_saved(
    api: httpx.Client, change: Any, field: str
) -> None:
    before = api.get("/settings").json()
    assert_error(api.post("/settings", json=change), 422, field)
    assert api.get("/settings").json() == before


def test_settings_survive_a_restart(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host(name="settings", plugins=["demo"])
    change = {
        "host": {"workers": 3, "schedules": {"maintenance.daily-compact": False}},
        "plugins": {"maintenance": {"retention_days": 7}},
    }
    response = host.post("/settings", json=change)
    assert response.status_code == 200, response.text
    partial = host.post("/settings", json={"host": {"max_queue_depth": 50}})
    assert partial.status_code == 200, partial.text

    def check(running: RunningHost) -> None:
        settings = running.get("/settings").json()
        assert settings["host"]["workers"] == 3
        assert settings["host"]["max_queue_depth"] == 50
        assert settings["host"]["schedules"] == {"maintenance.daily-compact": False}
        assert settings["plugins"]["maintenance"]["retention_days"] == 7
        status = running.get("/status").json()
        assert status["workers"]["active"] + status["workers"]["idle"] == 3
        schedules = {job["id"]: job for job in status["scheduler"]["jobs"]}
        assert schedules["maintenance.daily-compact"]["enabled"] is False

    check(host)
    assert host.stop() == 0
    check(enttok_host(name="settings", plugins=["demo"]))


def test_non_finite_setting_is_refused_and_not_saved(enttok_host: Callable[..., RunningHost]) -> None:
    """1e400 is valid JSON that Python reads as infinity, which pydantic writes back as null:
    saved, it would break GET /settings and the next start."""
    host = enttok_host(name="infinite-settings", plugins=["demo"])
    before = host.get("/settings").json()
    answers = {
        literal: post_raw(
            host, "/settings", '{"plugins": {"maintenance": {"retention_days": ' + literal + "}}}"
        ).status_code
        for literal in NON_FINITE
    }
    assert all(status in (400, 422) for status in answers.values()), answers
    assert host.get("/settings").json() == before
    assert host.stop() == 0
    restarted = enttok_host(name="infinite-settings", plugins=["demo"])
    assert restarted.get("/settings").json() == before


# -- the activity timeline


ACTIVITY = [
    # event_id, source, account_id, event_time
    ("gh-1", "github", "acme", "2026-01-01T00:00:00.000000Z"),
    ("gh-2", "github", "other", "2026-01-02T00:00:00.000000Z"),
    ("jira-1", "jira", "acme", "2026-01-03T00:00:00.000000Z"),
    ("jira-2", "jira", "other", "2026-01-04T00:00:00.000000Z"),
    ("gh-3", "github", "acme", "2026-01-05T12:30:00.500000Z"),
]


def insert_activity(database: Path) -> None:
    rows = [
        (
            event_id,
            source,
            account,
            "issue.updated",
            f"title {event_id}",
            None,
            f"https://example.invalid/{event_id}",
            "someone",
            event_time,
            event_time,
            event_time,
            json.dumps({"id": event_id}) if event_id != "gh-2" else None,
        )
        for event_id, source, account, event_time in ACTIVITY
    ]
    connection = sqlite3.connect(database, timeout=10)
    try:
        with connection:
            connection.executemany(
                "INSERT INTO activity_events (event_id, source, account_id, event_type, title, description, url,"
                " actor, event_time, created_at, updated_at, raw_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    finally:
        connection.close()


@pytest.fixture(scope="module")
def activity_host(host: RunningHost) -> RunningHost:
    insert_activity(host.data_dir / "data" / "index.db")
    return host


def activity_ids(host: RunningHost, **params: Any) -> list[str]:
    response = host.get("/activity/events", params=params)
    assert response.status_code == 200, response.text
    return [event["event_id"] for event in response.json()["events"]]


def test_activity_event_shape(activity_host: RunningHost) -> None:
    events = {e["event_id"]: e for e in activity_host.get("/activity/events").json()["events"]}
    assert events["gh-1"] == {
        "event_id": "gh-1",
        "source": "github",
        "account_id": "acme",
        "event_type": "issue.updated",
        "title": "title gh-1",
        "description": None,
        "url": "https://example.invalid/gh-1",
        "actor": "someone",
        "event_time": "2026-01-01T00:00:00.000000Z",
        "raw": {"id": "gh-1"},
    }
    assert events["gh-2"]["raw"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["gh-3", "jira-2", "jira-1", "gh-2", "gh-1"]),
        ({"source": "github"}, ["gh-3", "gh-2", "gh-1"]),
        ({"account_id": "acme"}, ["gh-3", "jira-1", "gh-1"]),
        ({"source": "jira", "account_id": "other"}, ["jira-2"]),
        ({"source": "gitlab"}, []),
        ({"from": "2026-01-02T00:00:00Z"}, ["gh-3", "jira-2", "jira-1", "gh-2"]),
        ({"from": "2026-01-02T01:00:00+01:00"}, ["gh-3", "jira-2", "jira-1", "gh-2"]),
        ({"from": "2026-01-02T00:00:00.000001Z"}, ["gh-3", "jira-2", "jira-1"]),
        ({"to": "2026-01-04T00:00:00Z"}, ["jira-1", "gh-2", "gh-1"]),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-04T00:00:00Z"}, ["jira-1", "gh-2"]),
        ({"from": "2026-01-05T12:30:00.5Z"}, ["gh-3"]),
        ({"limit": 2}, ["gh-3", "jira-2"]),
        ({"source": "github", "limit": 1}, ["gh-3"]),
    ],
)
def test_activity_filters_newest_first(
    activity_host: RunningHost, params: dict[str, Any], expected: list[str]
) -> None:
    assert activity_ids(activity_host, **params) == expected
