"""What the kit does for a connector's accounts beyond storing them, on the test plugin
`keeper` (host/tests/support/keeper.py): deleting an account takes its data along in one
transaction with the plugin's own hook, a schedule naming a missing account waits for it
instead of failing every interval, and a failed account test is explained in a sentence."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from enttok.api.accounts import explain_failure
from enttok.errors import RetryableError
from enttok.testing import RunningHost, start_host

SUPPORT = Path(__file__).parent / "support"
KEEPER = {"plugin_modules": {"keeper": "keeper", "keeper_x": "keeper_x"}, "pythonpath": [SUPPORT]}
ACCOUNTS = "/plugins/keeper/accounts"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("keeper") / "host", plugins=[], **KEEPER)
    yield running
    running.close()


def database(host: RunningHost) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db", timeout=10))


def count(host: RunningHost, sql: str, *params: Any) -> int:
    with database(host) as db:
        return db.execute(sql, params).fetchone()[0]


def seed(host: RunningHost, account_id: str) -> None:
    """What a sync of `keeper` (and of its neighbour `keeper_x`) would have left for the account."""
    now = "2026-01-05T09:00:00.000000Z"
    with database(host) as db, db:
        db.execute("INSERT INTO keeper_notes VALUES (?, 'a note')", (account_id,))
        db.execute("INSERT INTO keeper_links VALUES (?, 'https://example.invalid/')", (account_id,))
        db.execute("INSERT INTO keeper_x_items VALUES (?, 'not keeper''s')", (account_id,))
        db.execute("INSERT INTO sync_state VALUES ('keeper', ?, '7', ?)", (f"{account_id}/inbox", now))
        for source in ("keeper", "elsewhere"):
            db.execute(
                "INSERT INTO activity_events (event_id, source, account_id, event_type, event_time,"
                " created_at, updated_at) VALUES (?, ?, ?, 'note', ?, ?, ?)",
                (f"{source}:{account_id}:1", source, account_id, now, now, now),
            )


def left_for(host: RunningHost, account_id: str) -> dict[str, int]:
    return {
        "keeper_notes": count(host, "SELECT count(*) FROM keeper_notes WHERE account_id = ?", account_id),
        "keeper_links": count(host, "SELECT count(*) FROM keeper_links WHERE owner = ?", account_id),
        "keeper_x_items": count(host, "SELECT count(*) FROM keeper_x_items WHERE account_id = ?", account_id),
        "sync_state": count(host, "SELECT count(*) FROM sync_state WHERE scope LIKE ? || '/%'", account_id),
        "keeper entries": count(
            host,
            "SELECT count(*) FROM activity_events WHERE source = 'keeper' AND account_id = ?",
            account_id,
        ),
        "other entries": count(
            host,
            "SELECT count(*) FROM activity_events WHERE source = 'elsewhere' AND account_id = ?",
            account_id,
        ),
    }


def add(host: RunningHost, account_id: str, **settings: Any) -> None:
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text


def test_delete_takes_the_accounts_rows_entries_and_hook_rows_along(host: RunningHost) -> None:
    add(host, "gone", token="t-gone")
    add(host, "stays", token="t-stays")
    seed(host, "gone")
    seed(host, "stays")
    everything = {
        "keeper_notes": 1,
        "keeper_links": 1,
        "keeper_x_items": 1,
        "sync_state": 1,
        "keeper entries": 1,
        "other entries": 1,
    }
    assert left_for(host, "gone") == everything

    response = host.request("DELETE", f"{ACCOUNTS}/gone")
    assert response.status_code == 200, response.text
    assert response.json()["removed"] == {"sync_state": 1, "activity_events": 1, "keeper_notes": 1}
    assert left_for(host, "gone") == {
        **dict.fromkeys(everything, 0),
        "keeper_x_items": 1,  # plugin keeper_x's table, though it starts with keeper_
        "other entries": 1,  # another source's entry for an account of the same name
    }
    assert left_for(host, "stays") == everything, "deleting one account touched another's data"
    assert host.get(f"{ACCOUNTS}/gone").status_code == 404


def test_a_hook_that_raises_keeps_the_account_and_all_its_data(host: RunningHost) -> None:
    add(host, "stubborn", token="t-stubborn")
    seed(host, "stubborn")
    before = left_for(host, "stubborn")

    response = host.request("DELETE", f"{ACCOUNTS}/stubborn")
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "account_delete_failed"
    assert "will not let go of stubborn" in error["message"] and "kept" in error["message"]
    assert "Traceback" not in response.text

    kept = host.get(f"{ACCOUNTS}/stubborn")
    assert kept.status_code == 200
    assert kept.json()["secrets"] == {"token": {"is_set": True}}, "the secret went with a failed deletion"
    assert left_for(host, "stubborn") == before, "a deletion whose hook raised removed rows"


def test_a_schedule_naming_a_missing_account_waits_for_it(host: RunningHost) -> None:
    with host.events() as stream:
        for _ in range(3):  # `tick` (no account) fires on the same interval as `ghost`
            stream.wait_for(lambda e: e["type"] == "job.status" and e.get("job_type") == "keeper.tick")
    assert host.get("/jobs", params={"type": "keeper.touch"}).json()["jobs"] == [], (
        "a schedule naming a missing account submitted a job"
    )
    log = (host.log_dir / "enttok.log").read_text()
    assert log.count("schedule keeper.ghost skipped") == 1, "the skip was not said once"

    with host.events() as stream:
        add(host, "ghost")
        submitted = stream.wait_for(
            lambda e: e["type"] == "job.status" and e.get("job_type") == "keeper.touch"
        )
    job = host.wait_for_job(submitted["job_id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["payload"] == {"account_id": "ghost"}


@pytest.mark.parametrize(
    ("failure", "code", "words", "retryable"),
    [
        (httpx.ConnectError("All connection attempts failed"), "unreachable", "Could not connect", True),
        (httpx.ReadTimeout("timed out"), "timeout", "did not answer in time", True),
        (TimeoutError(), "timeout", "did not answer in time", True),
        (json.JSONDecodeError("Expecting value", "<html>", 0), "not_json", "not JSON", False),
        (RetryableError("the demo API is down", code="down"), "down", "the demo API is down", True),
        (KeyError("items"), "check_error", "KeyError", False),
    ],
    ids=["refused", "httpx timeout", "check timeout", "html", "job error", "anything else"],
)
def test_a_failed_check_is_explained(failure: Exception, code: str, words: str, retryable: bool) -> None:
    assert explain_failure(failure)[0] == code
    assert words in explain_failure(failure)[1]
    assert explain_failure(failure)[2] is retryable


def test_a_status_error_names_the_status_not_the_url() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/items?key=canary-secret")
    failure = httpx.HTTPStatusError("boom", request=request, response=httpx.Response(502, request=request))
    code, sentence, _ = explain_failure(failure)
    assert code == "upstream_error" and "502" in sentence and "canary" not in sentence
