"""Several accounts: one schedule covers them all (`confluence.sync` without an account
submits one sync per account), and each account's last sync counts exactly what its sync
stored. The conformance suite (`test_conformance.py`) checks the rest for every connector:
each account synced in a job of its own, none that must sign in again, the last sync shown,
a deleted account's rows and timeline gone."""

from __future__ import annotations

from confluence_host import ACCOUNTS, add_account, stored, sync, timeline
from fake_confluence import FakeConfluence

from enttok.testing import RunningHost


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


def test_the_last_sync_counts_each_page_and_its_timeline_entry_once(enttok_host) -> None:
    fake = FakeConfluence()
    fake.add_pages(40)
    with fake:
        host: RunningHost = enttok_host(plugins=["confluence"])
        add_account(host, fake, "personal")
        sync(host, "personal")
        last = host.get(f"{ACCOUNTS}/personal").json()["last_sync"]
        assert last["rows"] == len(stored(host, "personal")) == 40
        assert last["activity"] == len(timeline(host, "personal")) == 40
