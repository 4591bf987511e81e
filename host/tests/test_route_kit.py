"""A plugin's routes read input with `enttok.routes.body`/`query` and raise `ApiError`, and
the real host answers for them exactly as for its own routes: 422 naming the field, 415 for
a body not sent as JSON, 413 for one over the limit, 400 for one that is not JSON, the error
shape for an `ApiError`, and 429 when `PluginHost.submit` finds the queue full. The test
plugin (support/routekit.py) has no error handling of its own, so every such answer here
comes from the host's handlers reaching into the plugin's mount."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enttok.api.inputs import MAX_BODY
from enttok.testing import RunningHost, start_host

SUPPORT = Path(__file__).parent / "support"
PREFIX = "/plugins/routekit"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(
        tmp_path_factory.mktemp("routekit"),
        plugins=[],
        plugin_modules={"routekit": "routekit"},
        pythonpath=[SUPPORT],
    )
    yield running
    running.close()


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of a response that must be `status` in the host's error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return payload["error"]


def fields_of(error: dict[str, Any]) -> list[str]:
    return [detail["field"] for detail in error["details"]]


def test_valid_input_reaches_the_route_as_the_model(host: RunningHost) -> None:
    added = host.post(f"{PREFIX}/things", json={"name": "lamp", "tags": ["a"]})
    assert added.status_code == 201, added.text
    assert added.json() == {"name": "lamp", "count": 1, "tags": ["a"]}
    listed = host.get(f"{PREFIX}/things", params={"limit": "5"})
    assert listed.status_code == 200 and listed.json()["limit"] == 5


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "lamp", "count": -1}, "count"),
        ({"count": 2}, "name"),
        ({"name": "lamp", "colour": "red"}, "colour"),
        ({"name": "lamp", "tags": ["fine", "nul\u0000"]}, "tags.1"),  # the host's unstorable-text check
        ({"name": "lamp", "tags": ["fine", "\ud800"]}, "tags.1"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(host: RunningHost, sent: dict[str, Any], field: str) -> None:
    raw = json.dumps(sent).encode()  # ASCII, escapes kept: a lone surrogate is `\ud800` on the wire
    error = error_of(host.post(f"{PREFIX}/things", content=raw, headers=JSON), 422)
    assert error["code"] == "invalid_input"
    assert field in fields_of(error), error


def test_a_bad_query_is_422_naming_the_parameter(host: RunningHost) -> None:
    assert "limit" in fields_of(error_of(host.get(f"{PREFIX}/things", params={"limit": "0"}), 422))
    assert "page" in fields_of(error_of(host.get(f"{PREFIX}/things", params={"page": "2"}), 422))
    twice = error_of(host.get(f"{PREFIX}/things?limit=1&limit=2"), 422)
    assert "limit" in fields_of(twice), twice


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(host: RunningHost, content_type: str) -> None:
    answer = host.post(
        f"{PREFIX}/things", content=b'{"name": "lamp"}', headers={"content-type": content_type}
    )
    error = error_of(answer, 415)
    assert error["code"] == "unsupported_media_type"
    assert fields_of(error) == ["Content-Type"]


def test_a_body_over_the_limit_is_413(host: RunningHost) -> None:
    """Declared too long, it is refused before it is read; sent in chunks with no length, it
    is refused by `body` once it passes the limit."""
    big = b'{"name": "' + b"x" * MAX_BODY + b'"}'
    declared = host.post(f"{PREFIX}/things", content=big, headers=JSON)
    assert error_of(declared, 413)["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    with contextlib.suppress(httpx.RemoteProtocolError, httpx.WriteError):
        streamed = host.post(f"{PREFIX}/things", content=chunks(), headers=JSON)
        assert "content-length" not in streamed.request.headers
        assert error_of(streamed, 413)["code"] == "payload_too_large"
        return
    pytest.fail("the host closed the connection instead of answering 413")


def test_a_body_that_is_not_json_is_400(host: RunningHost) -> None:
    answer = host.post(f"{PREFIX}/things", content=b"{nope", headers=JSON)
    assert error_of(answer, 400)["code"] == "invalid_json"


def test_a_raised_api_error_is_the_error_shape_naming_the_field(host: RunningHost) -> None:
    error = error_of(host.get(f"{PREFIX}/things/t9"), 404)
    assert error == {
        "code": "thing_not_found",
        "message": "There is no thing 't9'.",
        "details": [{"field": "thing_id", "message": "There is no thing 't9'."}],
    }
    assert host.get(f"{PREFIX}/things/t1").json()["name"] == "first"


def test_a_full_queue_in_a_plugin_route_is_429(host: RunningHost) -> None:
    """`PluginHost.submit` raising `QueueFull` and the route letting it through: the host
    answers as `POST /jobs` does."""
    submitted: list[str] = []
    try:
        assert host.post("/settings", json={"host": {"workers": 1, "max_queue_depth": 1}}).status_code == 200
        with host.events() as stream:
            running = host.post(f"{PREFIX}/hold", json={})
            assert running.status_code == 201, running.text
            submitted.append(running.json()["job_id"])
            stream.wait_for(
                lambda e: (
                    e["type"] == "job.status" and e["job_id"] == submitted[0] and e["status"] == "running"
                )
            )
        queued = host.post(f"{PREFIX}/hold", json={})
        assert queued.status_code == 201, queued.text
        submitted.append(queued.json()["job_id"])

        full = host.post(f"{PREFIX}/hold", json={})
        assert error_of(full, 429)["code"] == "queue_full"
        assert full.headers["retry-after"] == "1"
    finally:
        for job_id in submitted:
            host.post(f"/jobs/{job_id}/cancel")
        for job_id in submitted:
            assert host.wait_for_job(job_id)["status"] == "canceled"
        host.post("/settings", json={"host": {"workers": 16, "max_queue_depth": 10_000}})
