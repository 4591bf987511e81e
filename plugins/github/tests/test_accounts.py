"""Several accounts: one schedule covers them all (`github.sync` without an account submits
one sync per account), and each account's last sync counts what its sync wrote. The conformance
suite (`test_conformance.py`) checks the rest for every connector: each account synced in a job
of its own, none that must sign in again, the last sync shown, a deleted account's rows and
timeline gone."""

from __future__ import annotations

from fake_github import FakeGitHub
from github_host import ACCOUNTS, add_account, sync, timeline

from enttok.testing import RunningHost


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


def test_the_last_sync_counts_each_timeline_entry_once(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(40)
    with fake:
        host: RunningHost = enttok_host(plugins=["github"])
        add_account(host, fake, "personal")
        sync(host, "personal")
        last = host.get(f"{ACCOUNTS}/personal").json()["last_sync"]
        assert last["activity"] == len(timeline(host, "personal")) > 0
