"""jira.sync against a fake Jira, Cloud and Server/Data Center: the first sync over the
window, incremental syncs, the overlap minute, the settings' JQL, a kill mid-sync."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fake_jira import ME, FakeJira
from jira_host import ACCOUNTS, add_account, payload, search_path, stored_issues, sync, timeline

from enttok.testing import RunningHost

FLAVOURS = {
    "cloud": {"cloud": True, "time_zone": "America/New_York"},
    "server": {"cloud": False, "time_zone": "Asia/Kolkata"},
}


SEARCH_JQL = "/rest/api/3/search/jql"


def searched_from(fake: FakeJira, since_request: int = 0) -> list[datetime]:
    """The `updated >= "..."` of each search sent, as aware datetimes in the user's zone."""
    found = []
    for request in fake.requests_to(search_path(fake))[since_request:]:
        date = re.search(r'updated >= "([^"]+)"', request.query["jql"])
        assert date is not None, request.query
        found.append(datetime.strptime(date[1], "%Y-%m-%d %H:%M").replace(tzinfo=fake.zone))
    return found


def wait_until(done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"waited {timeout:g}s for {what}"
        time.sleep(0.05)


def minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_first_sync_stores_the_window_and_what_the_person_did(enttok_host, flavour: str) -> None:
    fake = FakeJira(**FLAVOURS[flavour])
    issues = fake.add_issues(250)
    (old,) = fake.add_issues(1)
    old.updated = datetime.now(UTC) - timedelta(days=40)  # outside the 30-day window
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        add_account(host, fake, "work")
        started = datetime.now(UTC)
        parked = fake.hold(search_path(fake), after=1)  # the second page waits: progress is read
        with host.events() as stream:
            job_id = host.submit("jira.sync", payload("work"))
            assert parked.reached.wait(30), "the sync stopped after one page"
            reported = stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == job_id)
        parked.release()
        job = host.wait_for_job(job_id)
        assert job["status"] == "succeeded", job["error"]
        assert reported["message"].startswith("100 issues in 1 pages, updated up to ")
        assert reported["message"].endswith(f"({fake.zone})")
        assert 0.05 < reported["progress"] < 1

        # three pages: each a new search from the minute the last page ended on (one issue again)
        assert job["result"] == {"user": "Me Myself", "fetched": 252, "pages": 3}
        assert sorted(i[0] for i in stored_issues(host, "work")) == sorted(str(i.id) for i in issues)
        first = searched_from(fake)[0]
        assert abs(first - (started - timedelta(days=30, minutes=1))) < timedelta(minutes=1), first
        assert searched_from(fake)[1:] == [minute(issues[99].updated), minute(issues[198].updated)]
        if fake.cloud:  # the classic search is gone on Cloud; Server has no /search/jql
            assert not fake.requests_to("/rest/api/2/search") and not fake.requests_to("/rest/api/3/search?")
        else:
            assert not fake.requests_to("/rest/api/3/search/jql")
        assert [r.query["expand"] for r in fake.requests_to(search_path(fake))] == ["changelog"] * 3

        entries = {e["event_id"]: e for e in timeline(host, "work")}
        first_issue = issues[0]
        moved = entries[f"jira:work:history:{first_issue.histories[0]['id']}"]
        assert moved["title"] == f"moved {first_issue.key} from To Do to In Progress: Issue 1"
        assert moved["event_type"] == "issue.status_changed" and moved["actor"] == "Me Myself"
        assert moved["url"] == f"{fake.url}/browse/{first_issue.key}"
        mine, theirs = first_issue.comments[0], first_issue.comments[1]
        commented = entries[f"jira:work:comment:{mine['id']}"]
        assert commented["title"] == f"commented on {first_issue.key}: Issue 1"
        assert commented["description"] == "Looked into issue 1."  # Cloud's ADF, Server's text
        assert f"jira:work:comment:{theirs['id']}" not in entries, "someone else's comment is not mine"
        assert f"jira:work:issue:{first_issue.id}:created" in entries
        assert datetime.fromisoformat(moved["event_time"]) == first_issue.histories[0]["created"]
        mine_count = sum(
            len([h for h in i.histories if h["author"] == ME])
            + len([c for c in i.comments if c["author"] == ME])
            + (i.creator == ME)
            for i in issues
        )
        assert len(entries) == mine_count


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_incremental_sync_fetches_only_what_changed(enttok_host, flavour: str) -> None:
    fake = FakeJira(**FLAVOURS[flavour])
    issues = fake.add_issues(150)
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        add_account(host, fake, "work")
        sync(host, "work")
        before = {e["event_id"] for e in timeline(host, "work")}
        searches = len(fake.requests_to(search_path(fake)))

        now = datetime.now(UTC).replace(microsecond=0)
        fake.comment(issues[3], "Back to this one.", now)
        fake.transition(issues[10], "Done", now)
        job = sync(host, "work")

        # one page: from the minute before the newest stored, which brings that issue again
        assert job["result"] == {"user": "Me Myself", "fetched": 3, "pages": 1}
        assert searched_from(fake, searches) == [minute(issues[-1].updated) - timedelta(minutes=1)]
        rows = stored_issues(host, "work")
        assert len(rows) == 150 and len({r[0] for r in rows}) == 150
        after = {e["event_id"]: e for e in timeline(host, "work")}
        added = sorted(after.keys() - before)
        assert added == sorted(
            [
                f"jira:work:comment:{issues[3].comments[-1]['id']}",
                f"jira:work:history:{issues[10].histories[-1]['id']}",
            ]
        )
        assert after[f"jira:work:history:{issues[10].histories[-1]['id']}"]["title"].startswith(
            f"moved {issues[10].key} from In Progress to Done"
        )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_update_in_the_overlap_minute_is_neither_lost_nor_duplicated(enttok_host, flavour: str) -> None:
    """The last sync ended on an issue updated at :40 of a minute. After it ran, one issue
    was updated at :50 of the same minute, and another, updated at :20, reached Jira's
    index late. JQL cannot say "after :40": the next sync must still find both, once."""
    fake = FakeJira(**FLAVOURS[flavour])
    issues = fake.add_issues(6)
    edge = minute(datetime.now(UTC) - timedelta(minutes=20))
    newest, later, late, untouched = issues[-1], issues[1], issues[2], issues[3]
    newest.updated = edge + timedelta(seconds=40)
    late.hidden = True
    late_comment = fake.comment(late, "Indexed late.", edge + timedelta(seconds=20))
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        add_account(host, fake, "work")
        sync(host, "work")
        assert str(late.id) not in {r[0] for r in stored_issues(host, "work")}
        before = {e["event_id"] for e in timeline(host, "work")}
        searches = len(fake.requests_to(search_path(fake)))

        later_comment = fake.comment(later, "Same minute, later.", edge + timedelta(seconds=50))
        late.hidden = False
        sync(host, "work")

        assert searched_from(fake, searches) == [edge - timedelta(minutes=1)]
        rows = stored_issues(host, "work")
        assert sorted(r[0] for r in rows) == sorted(str(i.id) for i in issues), "a row lost or doubled"
        updated = {r[0]: r[2] for r in rows}
        assert datetime.fromisoformat(updated[str(later.id)]) == edge + timedelta(seconds=50)
        after = [e["event_id"] for e in timeline(host, "work")]
        assert len(after) == len(set(after))
        # the new comment, and all the person did on the issue indexed late (the sync had not seen it)
        late_entries = [f"jira:work:history:{h['id']}" for h in late.histories if h["author"] == ME]
        late_entries += [f"jira:work:comment:{c['id']}" for c in late.comments if c["author"] == ME]
        late_entries += [f"jira:work:issue:{late.id}:created"] if late.creator == ME else []
        assert f"jira:work:comment:{late_comment}" in late_entries
        assert sorted(set(after) - before) == sorted([f"jira:work:comment:{later_comment}", *late_entries])
        assert datetime.fromisoformat(updated[str(untouched.id)]) == untouched.updated

        sync(host, "work")  # and again: the overlap brings them back, and adds nothing
        assert sorted(e["event_id"] for e in timeline(host, "work")) == sorted(after)
        assert len(stored_issues(host, "work")) == len(issues)


def test_a_jql_in_the_settings_replaces_the_involvement_query(enttok_host) -> None:
    fake = FakeJira()
    fake.add_issues(10)
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        refused = host.post("/settings", json={"plugins": {"jira": {"jql": "project = OPS order  by key"}}})
        assert refused.status_code == 422 and "plugins.jira.jql" in refused.text
        saved = host.post("/settings", json={"plugins": {"jira": {"jql": "project = OPS", "window_days": 7}}})
        assert saved.status_code == 200, saved.text
        add_account(host, fake, "work")
        started = datetime.now(UTC)
        sync(host, "work")
        (request,) = fake.requests_to(search_path(fake))
        assert request.query["jql"].startswith('(project = OPS) AND updated >= "')
        (first,) = searched_from(fake)
        assert abs(first - (started - timedelta(days=7, minutes=1))) < timedelta(minutes=1)


def test_a_sync_killed_mid_way_resumes_at_its_page_on_server(enttok_host) -> None:
    """Server pages by `startAt`: the cursor keeps the search and its position."""
    fake = FakeJira(cloud=False, time_zone="Europe/Berlin")
    issues = fake.add_issues(40, spacing=timedelta(seconds=1))  # everything within a minute or so
    edge = minute(issues[0].updated)
    for n, issue in enumerate(issues):  # one minute: paging by startAt within one search
        issue.updated = edge + timedelta(seconds=n)
    with fake:
        host: RunningHost = enttok_host("killed", plugins=["jira"])
        add_account(host, fake, "work")
        parked = fake.hold("/rest/api/2/search", after=3)
        job_id = host.submit("jira.sync", payload("work", page_size=10))
        assert parked.reached.wait(30), "the sync stopped before its fourth page"
        wait_until(lambda: len(stored_issues(host, "work")) == 20, "the first 20 issues committed")
        host.kill()
        parked.release()
        restarted = enttok_host("killed", plugins=["jira"])
        job = restarted.wait_for_job(job_id, timeout=60)
        assert job["status"] == "succeeded", job["error"]
        starts = [r.query.get("startAt") for r in fake.requests_to("/rest/api/2/search")]
        # the window's first page; the issues' minute from 0, 10, then 20 (parked, its answer
        # lost to the kill); the restarted job goes on at 20 and 30, not from the top
        assert starts[:3] == ["0", "0", "10"] and sorted(starts[3:]) == ["20", "20", "30"], starts
        rows = stored_issues(restarted, "work")
        assert sorted(r[0] for r in rows) == sorted(str(i.id) for i in issues)


def test_each_account_syncs_in_its_own_job_every_30_minutes(enttok_host) -> None:
    fake = FakeJira()
    fake.add_issues(30)
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        (plugin,) = [p for p in host.get("/plugins").json()["plugins"] if p["name"] == "jira"]
        (schedule,) = plugin["schedules"]
        assert schedule["job_type"] == "jira.sync" and schedule["interval"] == 30 * 60
        assert schedule["payload"] == {} and schedule["enabled_by_default"] is True

        add_account(host, fake, "site-a")
        add_account(host, fake, "site-b")
        fan_out = host.run("jira.sync", {})
        assert fan_out["status"] == "succeeded", fan_out["error"]
        submitted = fan_out["result"]["submitted"]
        assert sorted(submitted) == ["site-a", "site-b"]
        for account_id, job_id in submitted.items():
            assert host.wait_for_job(job_id)["status"] == "succeeded"
            assert len(stored_issues(host, account_id)) == 30
        last = host.get(f"{ACCOUNTS}/site-a").json()["last_sync"]
        assert last["status"] == "succeeded" and last["activity"] == len(timeline(host, "site-a"))


def test_jira_time_zone_offsets_are_read_as_jira_writes_them() -> None:
    from enttok_jira.client import parse_time

    moment = parse_time("2025-01-15T09:30:12.345-0500")
    assert moment == datetime(2025, 1, 15, 14, 30, 12, 345000, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(hours=-5)
    assert ZoneInfo("Asia/Kolkata")  # the zones the tests use exist on this machine


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_busy_issue_brings_all_its_comments_and_status_changes(enttok_host, flavour: str) -> None:
    """Search results carry an issue's first 20 comments and changelog entries; the rest are
    fetched from the issue's own resources."""
    fake = FakeJira(**FLAVOURS[flavour])
    quiet, busy = fake.add_issues(2)
    start = busy.updated - timedelta(hours=1)
    for n in range(30):
        fake.comment(busy, f"note {n}", start + timedelta(minutes=n))
        fake.transition(busy, "Done" if n % 2 else "In Progress", start + timedelta(minutes=n, seconds=30))
    with fake:
        host: RunningHost = enttok_host(plugins=["jira"])
        add_account(host, fake, "work")
        sync(host, "work")
        entries = {e["event_id"] for e in timeline(host, "work")}
        assert {f"jira:work:comment:{c['id']}" for c in busy.comments if c["author"] == ME} <= entries
        assert {f"jira:work:history:{h['id']}" for h in busy.histories} <= entries
        assert len(busy.comments) > fake.in_search and len(busy.histories) > fake.in_search
        if fake.cloud:
            assert [
                r.query["startAt"] for r in fake.requests_to(f"/rest/api/3/issue/{busy.id}/changelog")
            ] == ["0"]
        else:
            assert len(fake.requests_to(f"/rest/api/2/issue/{busy.id}")) == 2  # the issue, its comments
        assert not fake.requests_to(f"/rest/api/3/issue/{quiet.id}"), "a quiet issue was fetched again"
        assert not fake.requests_to(f"/rest/api/2/issue/{quiet.id}"), "a quiet issue was fetched again"


def test_the_entry_point_module_imports_no_sdk() -> None:
    """The host imports `enttok_jira` at start-up: atlassian-python-api and requests wait for
    the first job."""
    code = (
        "import sys, enttok_jira, enttok_jira.sync;"
        " print([m for m in ('atlassian', 'requests', 'urllib3') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_sync_resumed_after_its_page_token_expired_starts_that_search_again(enttok_host) -> None:
    """Cloud's `nextPageToken` expires: a sync killed mid-search and resumed days later
    searches again from the minute it was in, losing and doubling nothing."""
    fake = FakeJira(cloud=True)
    issues = fake.add_issues(40)
    edge = minute(issues[0].updated)
    for n, issue in enumerate(issues):  # one minute: paging by nextPageToken within one search
        issue.updated = edge + timedelta(seconds=n)
    with fake:
        host: RunningHost = enttok_host("expired", plugins=["jira"])
        add_account(host, fake, "work")
        parked = fake.hold(SEARCH_JQL, after=3)
        job_id = host.submit("jira.sync", payload("work", page_size=10))
        assert parked.reached.wait(30), "the sync stopped before its fourth page"
        wait_until(lambda: len(stored_issues(host, "work")) == 20, "the first 20 issues committed")
        host.kill()
        fake.tokens_valid_after = time.time()  # every token issued so far has expired
        parked.release()  # its answer, a 400 too, goes to the killed host
        restarted = enttok_host("expired", plugins=["jira"])
        job = restarted.wait_for_job(job_id, timeout=60)
        assert job["status"] == "succeeded", job["error"]
        searches = fake.requests_to(SEARCH_JQL)
        refused = max(n for n, r in enumerate(searches) if r.status == 400)  # the restarted job's
        assert "nextPageToken" in searches[refused].query
        again = searches[refused + 1]
        assert again.status == 200 and "nextPageToken" not in again.query, "the expired token was kept"
        rows = stored_issues(restarted, "work")
        assert sorted(r[0] for r in rows) == sorted(str(i.id) for i in issues)
        logged = [e["message"] for e in restarted.job_events(job_id) if e["type"] == "log"]
        assert "Jira refused the saved page token: the search starts again at its minute" in logged
