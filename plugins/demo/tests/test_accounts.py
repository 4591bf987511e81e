"""The account routes every connector with an account model gets, on the demo plugin:
`/plugins/demo/accounts` (create, list, get, PATCH, DELETE, test, resync).

One host serves the whole module (each test uses accounts of its own); each test that syncs
gets its own fake upstream, which records the `after=` of every page request.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from enttok.testing import FakeUpstream, RunningHost, start_host
from enttok_demo.fake_api import ItemsApi, pages_requested

ACCOUNTS = "/plugins/demo/accounts"
ITEMS = 30
PAGE = 10


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("accounts") / "host", plugins=["demo"])
    yield running
    running.close()


@pytest.fixture
def api() -> Iterator[tuple[FakeUpstream, ItemsApi]]:
    items = ItemsApi(ITEMS)
    with FakeUpstream(items.routes()) as upstream:
        yield upstream, items


def canary() -> str:
    return f"canary-{secrets.token_hex(16)}"


def keyring_values(host: RunningHost) -> set[str]:
    """Every secret in the host's test keyring file (beside its data dir)."""
    path = host.data_dir.parent / f"{host.data_dir.name}.keyring.json"
    try:
        return set(json.loads(path.read_text()).values())
    except FileNotFoundError:
        return set()


def query(host: RunningHost, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        return db.execute(sql, params).fetchall()


def cursors(host: RunningHost, scope: str) -> list[tuple[Any, ...]]:
    return query(host, "SELECT cursor FROM sync_state WHERE connector = 'demo' AND scope = ?", scope)


def create(host: RunningHost, account_id: str, **settings: Any) -> dict[str, Any]:
    response = host.post(ACCOUNTS, json={"account_id": account_id, "settings": settings})
    assert response.status_code == 201, response.text
    return response.json()


def sync(host: RunningHost, account_id: str) -> dict[str, Any]:
    job = host.run("demo.sync", {"account_id": account_id, "page_size": PAGE})
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def error_fields(response: Any) -> list[str]:
    return [problem["field"] for problem in response.json()["error"]["details"]]


def test_create_list_get_show_the_secret_only_as_is_set(host: RunningHost) -> None:
    secret = canary()
    response = host.post(
        ACCOUNTS,
        json={"account_id": "acme", "settings": {"base_url": "http://127.0.0.1:9", "refresh_token": secret}},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["account_id"] == "acme"
    assert created["status"] == "active"
    assert created["settings"] == {"base_url": "http://127.0.0.1:9"}
    assert created["secrets"] == {"refresh_token": {"is_set": True}}

    listed = host.get(ACCOUNTS)
    assert listed.status_code == 200
    assert created in listed.json()["accounts"]
    fetched = host.get(f"{ACCOUNTS}/acme")
    assert fetched.status_code == 200
    assert fetched.json() == created

    for answer in (response, listed, fetched):
        assert secret not in answer.text
    assert secret in keyring_values(host)


def test_patch_keeps_a_secret_left_out_and_replaces_a_new_one(host: RunningHost) -> None:
    first, second = canary(), canary()
    create(host, "patchy", base_url="http://127.0.0.1:9", refresh_token=first)

    moved = host.request(
        "PATCH", f"{ACCOUNTS}/patchy", json={"settings": {"base_url": "http://127.0.0.1:10"}}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["settings"] == {"base_url": "http://127.0.0.1:10"}
    assert moved.json()["secrets"] == {"refresh_token": {"is_set": True}}
    assert first in keyring_values(host), "a PATCH without the secret lost it"

    replaced = host.request("PATCH", f"{ACCOUNTS}/patchy", json={"settings": {"refresh_token": second}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["settings"] == {"base_url": "http://127.0.0.1:10"}
    assert replaced.json()["secrets"] == {"refresh_token": {"is_set": True}}
    assert second in keyring_values(host)
    assert first not in keyring_values(host), "the replaced secret is still in the keyring"

    invalid = host.request("PATCH", f"{ACCOUNTS}/patchy", json={"settings": {"base_url": 12}})
    assert invalid.status_code == 422, invalid.text
    assert "settings.base_url" in error_fields(invalid)
    assert host.get(f"{ACCOUNTS}/patchy").json()["settings"] == {"base_url": "http://127.0.0.1:10"}

    for answer in (moved, replaced, invalid, host.get(f"{ACCOUNTS}/patchy"), host.get(ACCOUNTS)):
        assert first not in answer.text and second not in answer.text


def synced_counts(host: RunningHost, account_id: str) -> tuple[int, int]:
    """The account's rows in demo_items and its demo entries in the timeline."""
    rows = query(host, "SELECT count(*) FROM demo_items WHERE account_id = ?", account_id)[0][0]
    entries = query(
        host, "SELECT count(*) FROM activity_events WHERE source = 'demo' AND account_id = ?", account_id
    )[0][0]
    return rows, entries


def test_delete_removes_the_secret_cursor_rows_and_timeline(
    host: RunningHost, api: tuple[FakeUpstream, ItemsApi]
) -> None:
    upstream, _ = api
    create(host, "doomed", base_url=upstream.url, refresh_token=upstream.new_refresh_token())
    create(host, "kept", base_url=upstream.url, refresh_token=upstream.new_refresh_token())
    sync(host, "doomed")
    sync(host, "kept")
    assert cursors(host, "doomed") == [(str(ITEMS),)]
    assert synced_counts(host, "doomed") == (ITEMS, ITEMS)
    before = keyring_values(host)

    response = host.request("DELETE", f"{ACCOUNTS}/doomed")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "account_id": "doomed",
        "deleted": True,
        "removed": {"sync_state": 1, "activity_events": ITEMS, "demo_items": ITEMS},
        "canceled_jobs": [],
    }
    assert synced_counts(host, "doomed") == (0, 0), "the deleted account's rows or entries stayed"
    assert synced_counts(host, "kept") == (ITEMS, ITEMS), "deleting one account took another's data"

    assert host.get(f"{ACCOUNTS}/doomed").status_code == 404
    assert "doomed" not in [a["account_id"] for a in host.get(ACCOUNTS).json()["accounts"]]
    gone = before - keyring_values(host)
    assert len(gone) == 1, "the deleted account's secret is still in the keyring"
    assert gone <= set(upstream.issued)
    assert cursors(host, "doomed") == [], "the deleted account's cursor is still in sync_state"
    # the other account keeps its cursor and its secret (its sync can still refresh)
    assert cursors(host, "kept") == [(str(ITEMS),)]
    sync(host, "kept")


def seed_cursors(host: RunningHost, *scopes: str) -> None:
    """Cursors as a connector with per-project scopes (`<account>/<project>`) writes them."""
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db, db:
        db.executemany(
            "INSERT INTO sync_state (connector, scope, cursor, last_sync_at) VALUES ('demo', ?, '7', ?)",
            [(scope, "2026-01-01T00:00:00.000000Z") for scope in scopes],
        )


def test_delete_leaves_another_accounts_cursors_alone(host: RunningHost) -> None:
    """An account's sub-scope cursors go with it; never another account's, even one whose id
    matches it as a LIKE pattern (`_` is a wildcard there)."""
    create(host, "team_a", base_url="http://127.0.0.1:9")
    create(host, "teamXa", base_url="http://127.0.0.1:9")
    seed_cursors(host, "team_a", "team_a/PROJ", "teamXa", "teamXa/PROJ")
    assert host.request("DELETE", f"{ACCOUNTS}/team_a").status_code == 200
    assert cursors(host, "team_a") == [] and cursors(host, "team_a/PROJ") == []
    assert cursors(host, "teamXa") == [("7",)]
    assert cursors(host, "teamXa/PROJ") == [("7",)], "deleting 'team_a' cleared a cursor of 'teamXa'"


def test_resync_leaves_another_accounts_cursors_alone(host: RunningHost) -> None:
    """Account ids are case-sensitive: resetting `solo` keeps the cursors of `Solo`."""
    create(host, "solo", base_url="http://127.0.0.1:9")
    create(host, "Solo", base_url="http://127.0.0.1:9")
    seed_cursors(host, "solo/PROJ", "Solo/PROJ")
    response = host.post(f"{ACCOUNTS}/solo/resync")
    assert response.status_code == 200, response.text
    assert cursors(host, "solo/PROJ") == []
    assert cursors(host, "Solo/PROJ") == [("7",)], "resetting 'solo' cleared a cursor of 'Solo'"
    assert response.json()["cursors_cleared"] == 1


def test_unknown_account_is_404(host: RunningHost) -> None:
    path = f"{ACCOUNTS}/nobody"
    for method, url, body in (
        ("GET", path, None),
        ("PATCH", path, {"settings": {"base_url": "http://127.0.0.1:9"}}),
        ("DELETE", path, None),
        ("POST", f"{path}/test", None),
        ("POST", f"{path}/resync", None),
    ):
        response = host.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] == "account_not_found", (method, url)
    assert "nobody" not in [a["account_id"] for a in host.get(ACCOUNTS).json()["accounts"]]


def test_duplicate_is_409_and_keeps_the_first_secret(host: RunningHost) -> None:
    first, second = canary(), canary()
    create(host, "twice", base_url="http://127.0.0.1:9", refresh_token=first)
    response = host.post(
        ACCOUNTS,
        json={
            "account_id": "twice",
            "settings": {"base_url": "http://127.0.0.1:10", "refresh_token": second},
        },
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "account_exists"
    assert second not in response.text
    assert host.get(f"{ACCOUNTS}/twice").json()["settings"] == {"base_url": "http://127.0.0.1:9"}
    assert first in keyring_values(host)
    assert second not in keyring_values(host), "a refused duplicate still wrote its secret"


def test_missing_field_is_422_naming_it(host: RunningHost) -> None:
    secret = canary()
    response = host.post(ACCOUNTS, json={"account_id": "nobase", "settings": {"refresh_token": secret}})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert "settings.base_url" in error_fields(response)
    assert secret not in response.text
    assert host.get(f"{ACCOUNTS}/nobase").status_code == 404
    assert secret not in keyring_values(host)


@pytest.mark.parametrize("account_id", ["bad id", "../etc", "", "-dash-first", "x" * 101])
def test_bad_account_id_is_422_naming_it(host: RunningHost, account_id: str) -> None:
    secret = canary()
    response = host.post(
        ACCOUNTS,
        json={
            "account_id": account_id,
            "settings": {"base_url": "http://127.0.0.1:9", "refresh_token": secret},
        },
    )
    assert response.status_code == 422, response.text
    assert error_fields(response) == ["account_id"]
    assert secret not in keyring_values(host)


def test_check_route_answers_json(host: RunningHost) -> None:
    create(host, "checked", base_url="http://127.0.0.1:9")
    response = host.post(f"{ACCOUNTS}/checked/test")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json(), dict)


def test_resync_clears_the_cursor_so_the_next_sync_starts_over(
    host: RunningHost, api: tuple[FakeUpstream, ItemsApi]
) -> None:
    upstream, _ = api
    create(host, "again", base_url=upstream.url, refresh_token=upstream.new_refresh_token())
    sync(host, "again")
    assert pages_requested(upstream) == [0, 10, 20]
    sync(host, "again")
    assert pages_requested(upstream)[3:] == [ITEMS], "a second sync started over without a resync"

    response = host.post(f"{ACCOUNTS}/again/resync")
    assert response.status_code == 200, response.text
    assert response.json() == {"account_id": "again", "cursors_cleared": 1}
    assert cursors(host, "again") == []

    seen = len(pages_requested(upstream))
    job = sync(host, "again")
    assert pages_requested(upstream)[seen:] == [0, 10, 20], (
        "the sync after a resync did not fetch from the start"
    )
    assert job["result"] == {"synced": ITEMS}
    assert query(host, "SELECT count(*) FROM demo_items WHERE account_id = 'again'") == [(ITEMS,)]


def test_delete_cancels_the_accounts_running_sync_and_no_row_comes_back(
    host: RunningHost, api: tuple[FakeUpstream, ItemsApi]
) -> None:
    upstream, _ = api
    create(host, "busy", base_url=upstream.url, refresh_token=upstream.new_refresh_token())
    parked = upstream.hold("/items", after=1)  # one page committed, the second in flight
    job_id = host.submit("demo.sync", {"account_id": "busy", "page_size": PAGE})
    assert parked.reached.wait(30), "the sync never asked for its second page"

    response = host.request("DELETE", f"{ACCOUNTS}/busy")
    assert response.status_code == 200, response.text
    assert response.json()["canceled_jobs"] == [job_id]
    assert response.json()["removed"]["demo_items"] == PAGE
    parked.release()  # the page in flight arrives after the deletion
    assert host.wait_for_job(job_id)["status"] == "canceled"
    assert synced_counts(host, "busy") == (0, 0), "a page of the canceled sync landed after the deletion"
    assert cursors(host, "busy") == []
