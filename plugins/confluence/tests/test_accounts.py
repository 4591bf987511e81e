"""Several accounts: one schedule covers them all (`confluence.sync` without an account
submits one sync per account), each shows its last sync, and deleting one takes its rows."""

from __future__ import annotations

from confluence_host import ACCOUNTS, add_account, stored, sync, timeline
from fake_confluence import FakeConfluence

from enttok.testing import RunningHost


def test_a_sync_without_an_account_syncs_each_account_in_its_own_job(enttok_host) -> None:
    fake = FakeConfluence()
    fake.add_pages(30)
    with fake:
        host: RunningHost = enttok_host(plugins=["confluence"])
        add_account(host, fake, "personal")
        add_account(host, fake, "work")
        revoked = add_account(host, fake, "stale")
        fake.revoke(revoked)
        assert host.run("confluence.sync", {"account_id": "stale"})["error"]["code"] == "auth_failed"

        fan_out = host.run("confluence.sync", {})
        assert fan_out["status"] == "succeeded", fan_out["error"]
        submitted = fan_out["result"]["submitted"]
        assert sorted(submitted) == ["personal", "work"], "an account that must sign in again was synced"
        for account_id, job_id in submitted.items():
            job = host.wait_for_job(job_id)
            assert job["status"] == "succeeded", job["error"]
            assert job["payload"]["account_id"] == account_id
            assert len(stored(host, account_id)) == 30


def test_the_schedule_runs_every_30_minutes_and_is_switched_off_in_the_settings(enttok_host) -> None:
    host: RunningHost = enttok_host(plugins=["confluence"])
    (plugin,) = [p for p in host.get("/plugins").json()["plugins"] if p["name"] == "confluence"]
    (schedule,) = plugin["schedules"]
    assert schedule["id"] == "confluence.sync" and schedule["job_type"] == "confluence.sync"
    assert schedule["interval"] == 30 * 60 and schedule["payload"] == {}
    assert schedule["enabled_by_default"] is True

    response = host.post("/settings", json={"host": {"schedules": {"confluence.sync": False}}})
    assert response.status_code == 200, response.text
    (listed,) = [j for j in host.get("/status").json()["scheduler"]["jobs"] if j["id"] == "confluence.sync"]
    assert listed["enabled"] is False


def test_each_account_shows_its_last_sync_and_takes_its_rows_when_deleted(enttok_host) -> None:
    fake = FakeConfluence()
    fake.add_pages(40)
    with fake:
        host: RunningHost = enttok_host(plugins=["confluence"])
        add_account(host, fake, "personal")
        add_account(host, fake, "work")
        job = sync(host, "personal")
        sync(host, "work")

        last = host.get(f"{ACCOUNTS}/personal").json()["last_sync"]
        assert last["job_id"] == job["job_id"] and last["status"] == "succeeded"
        assert last["rows"] == 40 and last["activity"] == len(timeline(host, "personal")) == 40

        assert host.request("DELETE", f"{ACCOUNTS}/personal").status_code == 200
        assert stored(host, "personal") == {} and timeline(host, "personal") == []
        assert len(stored(host, "work")) == 40, "another account's rows went too"
