"""github.sync against the fake GitHub, on the real host: a first sync, an incremental one,
conditional requests that cost no rate limit, and a window larger than search's 1,000 results."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

from fake_github import FakeGitHub, parse
from github_host import add_account, stored_items, sync, timeline


def searched_since(fake: FakeGitHub, since_request: int = 0) -> list[datetime]:
    """The lower bound of `updated:>=` of each search request."""
    return [
        parse(r.query["q"].split("updated:>=")[1]) for r in fake.requests_to("/search/issues")[since_request:]
    ]


def a_day_of_work(fake: FakeGitHub) -> dict[str, str]:
    """Events of every kind the journal shows; the name of each: its event id."""
    hours = timedelta(hours=1)
    fake.items[3].merged = True  # pull request #4, in acme/repo0
    pull = {"url": f"{fake.url}/repos/acme/repo0/pulls/1", "id": 9, "number": 1}
    return {
        "push": fake.add_push(3, ago=5 * hours),
        "opened": fake.add_event(
            "PullRequestEvent", {"action": "opened", "number": 1, "pull_request": pull}, ago=4 * hours
        ),
        "reviewed": fake.add_event(
            "PullRequestReviewEvent",
            {"action": "created", "review": {"state": "approved"}, "pull_request": {"number": 7}},
            ago=3 * hours,
        ),
        "closed": fake.add_event(
            "IssuesEvent",
            {"action": "closed", "issue": {"number": 40, "title": "Flaky build"}},
            ago=2 * hours,
        ),
        # the events API no longer says whether a closed pull request was merged; search does
        "merged": fake.add_event(
            "PullRequestEvent", {"action": "closed", "number": 4, "pull_request": {"number": 4}}, ago=hours
        ),
        "old": fake.add_push(1, ago=timedelta(days=40)),  # before the 30-day window
    }


def test_first_sync_stores_the_window_and_what_the_person_did(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(250)
    fake.add_items(1, spacing=timedelta(days=40))  # updated 40 days ago: outside the window
    outside = fake.items[-1]
    outside.updated_at = datetime.now(UTC) - timedelta(days=40)
    ids = a_day_of_work(fake)
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "work")
        started = datetime.now(UTC)
        parked = fake.hold("/search/issues", after=1)  # the second page waits: progress is read
        with host.events() as stream:
            job_id = host.submit("github.sync", {"account_id": "work"})
            assert parked.reached.wait(30), "the sync stopped after one page"
            reported = stream.wait_for(lambda e: e["type"] == "job.progress" and e["job_id"] == job_id)
        parked.release()
        job = host.wait_for_job(job_id)
        assert job["status"] == "succeeded", job["error"]
        # a page is reported by what it brought and how far through the window it got
        assert reported["message"].startswith("100 issues and pull requests, updated up to ")
        assert 0.05 < reported["progress"] < 0.9

        assert job["result"] == {"login": "octocat", "items": 250, "events": 5}
        assert sorted(stored_items(host, "work")) == sorted(str(i.id) for i in fake.items[:250])
        first_since = searched_since(fake)[0]
        assert abs(first_since - (started - timedelta(days=30))) < timedelta(minutes=1), first_since
        # three pages of 100, each a new search from where the last ended, never past page 1
        assert [r.query["page"] for r in fake.requests_to("/search/issues")] == ["1", "1", "1"]

        entries = {e["event_id"]: e for e in timeline(host, "work")}
        push = entries[f"github:work:event:{ids['push']}"]
        assert push["title"] == "pushed 3 commits to main in acme/repo0"
        assert push["actor"] == "octocat" and push["event_type"] == "push"
        assert push["url"].startswith(f"{fake.url}/acme/repo0/compare/")
        review = entries[f"github:work:event:{ids['reviewed']}"]
        assert review["title"] == "reviewed PR #7 in acme/repo0" and review["description"] == "approved"
        closed = entries[f"github:work:event:{ids['closed']}"]
        assert closed["title"] == "closed issue #40 in acme/repo0"
        assert closed["url"] == f"{fake.url}/acme/repo0/issues/40"
        merged = entries[f"github:work:event:{ids['merged']}"]
        assert merged["title"] == "merged PR #4 in acme/repo0" and merged["event_type"] == "pr.merged"
        # opening PR #1 is in the search results (authored) and in the events: one entry
        opened = [e for e in entries.values() if e["title"] == "opened PR #1 in acme/repo0"]
        assert [e["event_id"] for e in opened] == ["github:work:acme/repo0#1:opened"]
        assert f"github:work:event:{ids['old']}" not in entries
        authored = sum(1 for i in fake.items[:250] if i.author == "octocat")
        assert len(entries) == authored + 4  # + the push, the review, the close and the merge

        progress = [e["message"] for e in host.job_events(job_id) if e["type"] == "job.progress"]
        assert progress[-1] == "5 new events (1 page)", progress  # the last report is always kept


def test_incremental_sync_fetches_only_what_changed(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(250)
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "work")
        sync(host, "work")
        newest = max(i.updated_at for i in fake.items)
        searches = len(fake.requests_to("/search/issues"))

        changed = fake.items[10:13]
        fake.touch(changed)
        fake.add_push(2, ago=timedelta(minutes=1))
        job = sync(host, "work")

        # one search, from where the last sync ended (less the index's lag): the three
        # changed items and the newest one, which the overlap fetches again
        assert searched_since(fake, searches) == [newest - timedelta(minutes=5)]
        assert job["result"] == {"login": "octocat", "items": 4, "events": 1}
        stored = stored_items(host, "work")
        assert len(stored) == len(set(stored)) == 250
        with contextlib.closing(sqlite3.connect(host.data_dir / "data" / "index.db")) as db:
            updated = db.execute(
                "SELECT updated_at FROM github_items WHERE item_id = ?", (str(changed[0].id),)
            ).fetchone()[0]
        assert parse(updated) == changed[0].updated_at
        titles = [e["title"] for e in timeline(host, "work")]
        assert titles.count("pushed 2 commits to main in acme/repo0") == 1

        # the conditional requests: /user and the events carried the last ETags
        user = [r for r in fake.requests if r.path == "/user"]
        events = fake.requests_to("/users/octocat/events")
        assert [r.status for r in user] == [200, 304]
        assert [r.status for r in events] == [200, 200]


def test_unchanged_resources_answer_304_and_cost_no_rate_limit(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(30)
    a_day_of_work(fake)
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "work")
        sync(host, "work")
        used = fake.core.used
        # one request left in the hour: were the conditional requests counted, the
        # second would be refused and the sync put off until the reset
        fake.core.limit = used + 1
        before = len(fake.requests)
        job = sync(host, "work")
        assert not [e for e in host.job_events(job["job_id"]) if e["type"] == "ratelimit"]
        core = [r for r in fake.requests[before:] if not r.path.startswith("/search")]
        assert [(r.path, r.status) for r in core] == [("/user", 304), ("/users/octocat/events", 304)]
        assert fake.core.used == used, "a 304 was counted against the rate limit"
        assert job["result"]["events"] == 0


def test_a_window_past_the_search_cap_is_synced_whole(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(1500)
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "busy")
        job = sync(host, "busy")
    searches = fake.requests_to("/search/issues")
    assert job["result"]["items"] == 1500
    assert sorted(stored_items(host, "busy")) == sorted(str(i.id) for i in fake.items)
    assert all(r.status == 200 for r in searches), [r.status for r in searches if r.status != 200]
    assert {r.query["page"] for r in searches} == {"1"}
    assert len(searches) == 16  # 100 results a page, less the one each page starts again on


def test_a_page_of_one_second_follows_the_link_to_the_next_page(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(250, spacing=timedelta(0))  # a bulk edit: 250 items updated in the same second
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "bulk")
        job = sync(host, "bulk")
    pages = [r.query["page"] for r in fake.requests_to("/search/issues")]
    # the first page moves the search to that second; its pages then follow one another
    assert pages == ["1", "1", "2", "3"]
    assert job["result"]["items"] == 250
    assert sorted(stored_items(host, "bulk")) == sorted(str(i.id) for i in fake.items)


def comment(fake: FakeGitHub, number: int, ago: timedelta) -> str:
    issue = {"number": number, "title": f"Item {number}"}
    return fake.add_event("IssueCommentEvent", {"action": "created", "issue": issue, "comment": {}}, ago=ago)


def test_events_follow_their_link_pages_and_stop_at_the_last_synced(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(5)
    for n in range(250):
        comment(fake, n, ago=timedelta(hours=300 - n))
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "chatty")
        assert sync(host, "chatty")["result"]["events"] == 250
        pages = [r.query.get("page", "1") for r in fake.requests_to("/users/octocat/events")]
        assert pages == ["1", "2", "3"], "the events' Link pages were not followed"

        for n in range(10):
            comment(fake, 1000 + n, ago=timedelta(minutes=10 - n))
        assert sync(host, "chatty")["result"]["events"] == 10
        assert len(fake.requests_to("/users/octocat/events")) == 4, "pages already synced were fetched again"
        titles = [e["title"] for e in timeline(host, "chatty")]
        assert len(titles) == 260 + 3  # and the three items the person opened
        assert titles.count("commented on issue #1009 in acme/repo0") == 1

        # more than the API keeps between two syncs: the 300 it serves, and a warning of the gap
        for n in range(320):
            comment(fake, 2000 + n, ago=timedelta(seconds=400 - n))
        job = sync(host, "chatty")
        assert job["result"]["events"] == 300
        warnings = [e["message"] for e in host.job_events(job["job_id"]) if e.get("level") == "warning"]
        assert any("last 300 events only" in w for w in warnings), warnings


def test_a_link_to_another_host_is_not_followed(enttok_host) -> None:
    fake = FakeGitHub()
    fake.add_items(5)
    for n in range(150):
        comment(fake, n, ago=timedelta(hours=200 - n))
    fake.link_origin = "http://127.0.0.1:9"  # nothing listens there; no request may go to it
    with fake:
        host = enttok_host(plugins=["github"])
        add_account(host, fake, "proxied")
        job = host.run("github.sync", {"account_id": "proxied"})
    assert job["status"] == "failed" and job["error"]["code"] == "foreign_link"
    assert "http://127.0.0.1:9/users/octocat/events" in job["error"]["message"]
    assert len(fake.requests_to("/users/octocat/events")) == 1
