"""Where an account's secret goes: the keyring, else the file encrypted with
BACKEND_SECRET_KEY, else nowhere (a 503); never the database, the logs, a response or an event.
And a refresh token rotated just before a crash is the one the recovered job uses."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from enttok.testing import RunningHost, SuiteFigures
from enttok_demo.fake_api import fake_upstream

ACCOUNTS = "/plugins/demo/accounts"
FAIL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
ITEMS = 25


def keyring_file(host: RunningHost) -> Path:
    return host.data_dir.parent / f"{host.data_dir.name}.keyring.json"


def files_containing(needle: str, root: Path) -> list[Path]:
    return scan_files(needle, root)[0]


def scan_files(needle: str, root: Path) -> tuple[list[Path], int]:
    """The files under `root` that contain `needle`, and how many files were read."""
    data = needle.encode()
    files = [path for path in root.rglob("*") if path.is_file()]
    return [path for path in files if data in path.read_bytes()], len(files)


def every_event(host: RunningHost) -> list[dict[str, Any]]:
    """Every event the host has recorded, as the WebSocket replays them."""
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        last = db.execute("SELECT max(seq) FROM job_events").fetchone()[0]
    replayed: list[dict[str, Any]] = []
    with host.events(since=0) as stream:
        while not replayed or replayed[-1]["seq"] < last:
            replayed.append(stream.next())
    return replayed


def account_rows(host: RunningHost) -> int:
    with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
        return db.execute("SELECT count(*) FROM accounts WHERE plugin = 'demo'").fetchone()[0]


def sync(host: RunningHost, account_id: str) -> dict[str, Any]:
    return host.run("demo.sync", {"account_id": account_id, "page_size": 10})


def test_a_secret_lives_in_the_keyring_only(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host(plugins=["demo"])
        settings = {"base_url": upstream.url, "refresh_token": canary}
        responses = [host.post(ACCOUNTS, json={"account_id": "acme", "settings": settings})]
        assert responses[0].status_code == 201, responses[0].text
        assert canary in keyring_file(host).read_text()
        # use the secret: the fake does not know it, so the sync sends it and fails on it
        job = sync(host, "acme")
        assert job["status"] == "failed" and job["error"]["code"] == "auth_failed", job
        assert upstream.refreshes == 1, "the sync never presented the secret"
        responses += [
            host.get(ACCOUNTS),
            host.get(f"{ACCOUNTS}/acme"),
            host.request("PATCH", f"{ACCOUNTS}/acme", json={"settings": {"base_url": upstream.url}}),
            host.post(f"{ACCOUNTS}/acme/test"),
            host.get("/jobs"),
            host.get(f"/jobs/{job['job_id']}"),
            host.get(f"/jobs/{job['job_id']}/events"),
            host.get("/settings"),
            host.get("/plugins"),
            host.get("/openapi.json"),
        ]
        events = every_event(host)
        assert host.stop() == 0

    assert all(response.status_code < 300 for response in responses), [r.text for r in responses]
    assert not [r.request.url for r in responses if canary in r.text], "the secret reached a response"
    assert not [e for e in events if canary in json.dumps(e)], "the secret reached an event"
    in_data, data_files = scan_files(canary, host.data_dir)
    assert not in_data, "the secret reached a file under the data dir"
    in_logs, log_files = scan_files(canary, host.log_dir)
    assert not in_logs, "the secret reached a log file"
    assert canary in keyring_file(host).read_text(), "the secret is not in the keyring"
    # in the run's summary, beside the host's own security figures
    suite_figures.count("security", "files scanned for a secret: account secret", data_files + log_files)
    suite_figures.count("security", "responses checked for an account secret", len(responses))
    suite_figures.count("security", "events checked for an account secret", len(events))


def test_without_a_keyring_secrets_go_to_the_encrypted_file(
    enttok_host: Callable[..., RunningHost],
) -> None:
    key = secrets.token_urlsafe(32)
    # access tokens that live a minute are not cached, so each sync spends the refresh token
    upstream, _ = fake_upstream(count=ITEMS, access_token_ttl=60)
    with upstream:
        host = enttok_host(plugins=["demo"], env={**FAIL_KEYRING, "BACKEND_SECRET_KEY": key})
        canary = upstream.new_refresh_token()
        created = host.post(
            ACCOUNTS,
            json={"account_id": "acme", "settings": {"base_url": upstream.url, "refresh_token": canary}},
        )
        assert created.status_code == 201, created.text
        assert created.json()["secrets"] == {"refresh_token": {"is_set": True}}
        sealed = host.data_dir / "data" / "secrets.enc"
        assert sealed.is_file(), "no encrypted secret file"
        # twice: the second sync refreshes with the token the first one rotated into the file
        for expected in (ITEMS, 0):
            job = sync(host, "acme")
            assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
            assert job["result"] == {"synced": expected}
        assert upstream.refreshes == 2
        assert host.stop() == 0

    assert not keyring_file(host).exists(), "a keyring file was written with the keyring failing"
    assert b"refresh" not in sealed.read_bytes() and b"acme" not in sealed.read_bytes()
    for secret in [canary, *upstream.issued, key]:
        assert not files_containing(secret, host.data_dir), (
            f"{secret[:12]}... is in plaintext in the data dir"
        )


def test_without_keyring_or_key_a_secret_is_refused(enttok_host: Callable[..., RunningHost]) -> None:
    host = enttok_host(plugins=["demo"], env=FAIL_KEYRING)
    canary = f"canary-{secrets.token_hex(16)}"
    response = host.post(
        ACCOUNTS,
        json={"account_id": "acme", "settings": {"base_url": "http://127.0.0.1:9", "refresh_token": canary}},
    )
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "secrets_unavailable" and error["message"]
    assert canary not in response.text
    assert host.get(ACCOUNTS).json()["accounts"] == []
    assert host.get(f"{ACCOUNTS}/acme").status_code == 404
    assert account_rows(host) == 0, "the account was saved without its secret"

    # an account without a secret needs no store; adding one later is refused the same way
    plain = host.post(ACCOUNTS, json={"account_id": "plain", "settings": {"base_url": "http://127.0.0.1:9"}})
    assert plain.status_code == 201, plain.text
    assert plain.json()["secrets"] == {"refresh_token": {"is_set": False}}
    patched = host.request("PATCH", f"{ACCOUNTS}/plain", json={"settings": {"refresh_token": canary}})
    assert patched.status_code == 503, patched.text
    assert patched.json()["error"]["code"] == "secrets_unavailable"
    assert host.get(f"{ACCOUNTS}/plain").json()["secrets"] == {"refresh_token": {"is_set": False}}

    assert host.stop() == 0
    assert not (host.data_dir / "data" / "secrets.enc").exists()
    assert not files_containing(canary, host.data_dir)


def test_a_rotated_refresh_token_survives_a_crash_right_after_the_refresh(
    enttok_host: Callable[..., RunningHost], suite_figures: SuiteFigures
) -> None:
    upstream, _ = fake_upstream(count=ITEMS)
    with upstream:
        host = enttok_host("crash", plugins=["demo"])
        settings = {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()}
        assert host.post(ACCOUNTS, json={"account_id": "acme", "settings": settings}).status_code == 201
        parked = upstream.hold("/items")
        job_id = host.submit("demo.sync", {"account_id": "acme", "page_size": 10})
        assert parked.reached.wait(30), "the sync never asked for its first page"
        assert upstream.refreshes == 1  # the old refresh token is dead from here on
        host.kill()
        parked.release()

        restarted = enttok_host("crash", plugins=["demo"])
        job = restarted.wait_for_job(job_id, timeout=30)
        assert job["status"] == "succeeded", (job["error"], restarted.job_events(job_id))
        assert job["result"] == {"synced": ITEMS}
        refreshes = upstream.requests_to("/oauth/token")
        assert [r.status for r in refreshes] == [200, 200], "the recovered job refreshed with a dead token"
        with contextlib.closing(sqlite3.connect(restarted.data_dir / "data" / "index.db")) as db:
            stored = db.execute("SELECT count(DISTINCT item_id) FROM demo_items").fetchone()[0]
        assert stored == ITEMS
        suite_figures.count("recovery", "kills (SIGKILL) survived")
