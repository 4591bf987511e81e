"""Several accounts: one schedule covers them all (`github.sync` without an account submits
one sync per account), each shows its last sync, and deleting one takes its rows with it."""

from __future__ import annotations

from fake_github import FakeGitHub
from github_host import ACCOUNTS, add_account, stored_items, sync, timeline

from enttok.testing import RunningHost


def test_a_sync_without_an_account_syncs_each_account_in_its_own_job(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(120)
    with fake:
        host: RunningHost = enttok_host(plugins=["github"])
        add_account(host, fake, "personal")
        add_account(host, fake, "work")
        revoked = add_account(host, fake, "stale")
        fake.revoke(revoked)
        assert host.run("github.sync", {"account_id": "stale"})["error"]["code"] == "auth_failed"

        fan_out = host.run("github.sync", {})
        assert fan_out["status"] == "succeeded", fan_out["error"]
        submitted = fan_out["result"]["submitted"]
        assert sorted(submitted) == ["personal", "work"], "an account that must sign in again was synced"
        for account_id, job_id in submitted.items():
            job = host.wait_for_job(job_id)
            assert job["status"] == "succeeded", job["error"]
            assert job["payload"]["account_id"] == account_id
            assert len(stored_items(host, account_id)) == 120


def test_the_schedule_runs_every_15_minutes_and_is_switched_off_in_the_settings(enttok_host) -> None:
    host: RunningHost = enttok_host(plugins=["github"])
    (plugin,) = [p for p in host.get("/plugins").json()["plugins"] if p["name"] == "github"]
    (schedule,) = plugin["schedules"]
    assert schedule["id"] == "github.sync" and schedule["job_type"] == "github.sync"
    assert schedule["interval"] == 15 * 60 and schedule["payload"] == {}
    assert schedule["enabled_by_default"] is True

    response = host.post("/settings", json={"host": {"schedules": {"github.sync": False}}})
    assert response.status_code == 200, response.text
    (listed,) = [j for j in host.get("/status").json()["scheduler"]["jobs"] if j["id"] == "github.sync"]
    assert listed["enabled"] is False


def test_each_account_shows_its_last_sync_and_takes_its_rows_when_deleted(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(40)
    with fake:
        host: RunningHost = enttok_host(plugins=["github"])
        add_account(host, fake, "personal")
        add_account(host, fake, "work")
        job = sync(host, "personal")
        sync(host, "work")

        last = host.get(f"{ACCOUNTS}/personal").json()["last_sync"]
        assert last["job_id"] == job["job_id"] and last["status"] == "succeeded"
        assert last["rows"] >= 40 and last["activity"] == len(timeline(host, "personal"))

        assert host.request("DELETE", f"{ACCOUNTS}/personal").status_code == 200
        assert stored_items(host, "personal") == [] and timeline(host, "personal") == []
        assert len(stored_items(host, "work")) == 40, "another account's rows went too"
        assert host.post(f"{ACCOUNTS}/personal/resync").status_code == 404
