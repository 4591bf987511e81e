"""confluence.sync against the fake Confluence, on the real host: a first sync over the
window (paged past page 2 under Cloud's `/wiki`), an incremental one, the overlap minute of
CQL's dates in the site's time zone, and a Data Center site with a personal access token."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from confluence_host import add_account, searched_cql, stored, sync, timeline
from fake_confluence import FakeConfluence

from enttok.testing import Recorded

NEW_YORK = ZoneInfo("America/New_York")


def cql_since(cql: str, zone: ZoneInfo) -> datetime:
    """The `lastmodified >= "..."` of a search, read as the site reads it."""
    text = cql.split('lastmodified >= "')[1][:16]
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)


def minutes_around(request: Recorded, before: timedelta) -> set[datetime]:
    """The minutes a search that began during `request`, less `before`, may be written as."""
    return {
        datetime.fromtimestamp(moment, UTC).replace(second=0, microsecond=0) - before
        for moment in (request.arrived - 1, request.arrived, request.at, request.at + 1)
    }


def test_first_sync_stores_the_window_and_what_the_person_did(enttok_host) -> None:
    fake = FakeConfluence()
    now = datetime.now(UTC).replace(microsecond=0)
    mine = fake.add_pages(55)
    edited = mine[-1]
    fake.edit(edited, when=now - timedelta(minutes=30))
    old = fake.add("Old notes", when=now - timedelta(days=40))  # before the 30-day window
    theirs = fake.add("Their page", when=now - timedelta(hours=2), by=fake.other)  # never touched by Ada
    shared = fake.add("Shared plan", when=now - timedelta(days=3))
    fake.edit(shared, by=fake.other, when=now - timedelta(days=2))  # Ada created it, Grace edited it last
    post = fake.add(
        "Week 48",
        when=now - timedelta(hours=5),
        kind="blogpost",
        space=("TEAM", "Team"),
        body='<h2>Done</h2><p>Shipped the <ac:link><ri:page ri:content-title="Importer"/>'
        "<ac:plain-text-link-body><![CDATA[new importer]]></ac:plain-text-link-body></ac:link> &amp; fixed "
        '<ac:structured-macro ac:name="jira"><ac:parameter ac:name="key">OPS-7</ac:parameter>'
        "</ac:structured-macro>the build.</p>",
    )
    with fake:
        host = enttok_host(plugins=["confluence"])
        add_account(host, fake, "work")
        started = datetime.now(UTC)
        job = sync(host, "work")

    assert job["result"] == {"user": "Ada Lovelace", "contents": 57, "pages": 3}
    rows = stored(host, "work")
    assert set(rows) == {c.id for c in [*mine, shared, post]}
    assert old.id not in rows and theirs.id not in rows

    # three pages of 25, the later two by the cursor link, under /wiki as on Cloud
    searches = fake.requests_to(fake.search_path)
    assert [r.status for r in searches] == [200, 200, 200]
    assert ["cursor" in r.query for r in searches] == [False, True, True]
    assert all(r.path.startswith("/wiki/rest/api/") for r in fake.requests), "a request left /wiki"
    (first_cql,) = searched_cql(fake)
    assert first_cql.startswith("type in (page, blogpost) AND contributor = currentUser() AND ")
    assert first_cql.endswith(" ORDER BY lastmodified ASC")
    window = cql_since(first_cql, NEW_YORK)  # in the site's time zone, as Confluence reads it
    assert abs(window - (started - timedelta(days=30))) < timedelta(minutes=3), window

    assert rows[post.id]["type"] == "blogpost" and rows[post.id]["space_name"] == "Team"
    assert rows[post.id]["excerpt"] == "Done Shipped the new importer & fixed the build."
    assert rows[shared.id]["author"] == "Grace Hopper" and rows[shared.id]["created_by"] == "Ada Lovelace"
    assert rows[shared.id]["version"] == 2
    assert rows[edited.id]["url"] == f"{fake.url}/wiki/spaces/DEV/pages/{edited.id}/Page+55"

    entries = {e["event_id"]: e for e in timeline(host, "work")}
    change = entries[f"confluence:work:{edited.id}:v2"]
    assert change["title"] == "edited page Page 55 in space Development"
    assert change["event_type"] == "page.edited" and change["actor"] == "Ada Lovelace"
    assert change["url"] == rows[edited.id]["url"]
    assert entries[f"confluence:work:{edited.id}:v1"]["title"] == "created page Page 55 in space Development"
    blog = entries[f"confluence:work:{post.id}:v1"]
    assert blog["title"] == "created blog post Week 48 in space Team"
    assert blog["description"] == rows[post.id]["excerpt"]
    # Grace's edit is hers: only Ada's creation of the shared page is on Ada's timeline
    assert f"confluence:work:{shared.id}:v2" not in entries
    assert (
        entries[f"confluence:work:{shared.id}:v1"]["title"] == "created page Shared plan in space Development"
    )
    assert len(entries) == len(mine) + 3

    progress = [e["message"] for e in host.job_events(job["job_id"]) if e["type"] == "job.progress"]
    assert progress[-1].startswith("57 pages and blog posts by Ada Lovelace, modified up to "), progress


def test_incremental_sync_fetches_only_what_changed(enttok_host) -> None:
    fake = FakeConfluence()
    pages = fake.add_pages(30)
    with fake:
        host = enttok_host(plugins=["confluence"])
        add_account(host, fake, "work")
        sync(host, "work")
        first_search = fake.requests_to(fake.search_path)[0]
        before = len(fake.requests_to(fake.search_path))

        fake.edit(pages[3])
        fake.edit(pages[7], by=fake.other)
        new = fake.add("Fresh page", when=datetime.now(UTC).replace(microsecond=0))
        job = sync(host, "work")

    later = fake.requests_to(fake.search_path)[before:]
    assert len(later) == 1, "an incremental sync paged through more than what changed"
    # from the minute the last search began in, less a minute, written in New York time
    since = cql_since(later[0].query["cql"], NEW_YORK)
    assert since in minutes_around(first_search, timedelta(minutes=1)), since
    assert job["result"]["contents"] == 3

    rows = stored(host, "work")
    assert len(rows) == 31 and rows[new.id]["title"] == "Fresh page"
    assert rows[pages[3].id]["version"] == 2
    assert rows[pages[7].id]["author"] == "Grace Hopper"
    ids = [e["event_id"] for e in timeline(host, "work")]
    assert len(ids) == len(set(ids)) == 30 + 2
    assert f"confluence:work:{pages[3].id}:v2" in ids and f"confluence:work:{new.id}:v1" in ids
    assert f"confluence:work:{pages[7].id}:v2" not in ids


def test_an_edit_in_the_overlap_minute_is_neither_lost_nor_duplicated(enttok_host) -> None:
    fake = FakeConfluence()
    pages = fake.add_pages(10)
    fake.edit(pages[0])  # just before the sync: in the minute its search begins
    with fake:
        host = enttok_host(plugins=["confluence"])
        add_account(host, fake, "work")
        sync(host, "work")
        # the site's clock (`Date`) read the search's start at or before its answer: the next
        # search starts from this minute (less the overlap)
        answered = datetime.fromtimestamp(fake.requests_to(fake.search_path)[0].at, UTC)
        minute = answered.replace(second=0, microsecond=0)
        # edits made before that search began which Confluence's index showed only later: one
        # at the start of the cursor's own minute, one in the minute before it
        at_the_minute = fake.edit(pages[1], when=minute)
        a_minute_before = fake.edit(pages[2], when=minute - timedelta(seconds=20))
        job = sync(host, "work")

    # the overlap fetched what it must (the late edits) and what it may (the page seen before)
    assert job["result"]["contents"] == 3
    rows = stored(host, "work")
    assert len(rows) == 10
    assert rows[pages[1].id]["version"] == at_the_minute.number == 2
    assert rows[pages[2].id]["version"] == a_minute_before.number == 2
    ids = [e["event_id"] for e in timeline(host, "work")]
    assert len(ids) == len(set(ids)) == 10 + 3, "the overlap duplicated or lost a timeline entry"
    for page in pages[:3]:
        assert ids.count(f"confluence:work:{page.id}:v2") == 1


def test_an_edit_someone_else_edited_over_is_found_in_the_page_history(enttok_host) -> None:
    fake = FakeConfluence()
    now = datetime.now(UTC).replace(microsecond=0)
    busy = fake.add("Handover", when=now - timedelta(days=5), by=fake.other)
    mine = fake.edit(busy, when=now - timedelta(days=2))  # Ada's v2...
    fake.edit(busy, by=fake.other, when=now - timedelta(days=1))  # ...under Grace's v3
    quiet = fake.add("Ada's own", when=now - timedelta(days=3))
    fake.edit(quiet, when=now - timedelta(days=1))
    long_ago = fake.add("Old page", when=now - timedelta(days=40))  # created before the window...
    recent = fake.edit(long_ago, when=now - timedelta(hours=3))  # ...edited in it
    with fake:
        host = enttok_host(plugins=["confluence"])
        add_account(host, fake, "work")
        sync(host, "work")
        first = {e["event_id"] for e in timeline(host, "work")}
        history = [r.path for r in fake.requests if r.path.endswith("/version")]

        again = fake.edit(busy)  # Ada's v4, under Grace's v5
        fake.edit(busy, by=fake.other)
        sync(host, "work")
        second = {e["event_id"] for e in timeline(host, "work")} - first
        later = [r for r in fake.requests if r.path.endswith("/version")][len(history) :]

    assert first == {
        f"confluence:work:{busy.id}:v{mine.number}",  # from the history: the search shows Grace's v3
        f"confluence:work:{quiet.id}:v1",
        f"confluence:work:{quiet.id}:v2",
        f"confluence:work:{long_ago.id}:v{recent.number}",  # its creation is older than the window
    }
    assert history == [f"/wiki/rest/api/content/{busy.id}/version"], "only the hidden versions are asked for"
    assert second == {f"confluence:work:{busy.id}:v{again.number}"}
    assert [r.query["limit"] for r in later] == ["2"], "versions seen by the last sync were asked for again"


def test_a_sync_killed_mid_search_resumes_at_its_next_page_link(enttok_host) -> None:
    fake = FakeConfluence()
    pages = fake.add_pages(60)
    with fake:
        host = enttok_host("killed", plugins=["confluence"])
        add_account(host, fake, "work")
        parked = fake.hold(fake.search_path, after=1)  # page 1 answered (and committed), page 2 parked
        job_id = host.submit("confluence.sync", {"account_id": "work", "page_size": 25})
        assert parked.reached.wait(30), "the sync stopped after one page"
        host.kill()
        killed_at = time.time()
        parked.release()
        host = enttok_host("killed", plugins=["confluence"])
        job = host.wait_for_job(job_id)

    assert job["status"] == "succeeded", job["error"]
    resumed = [r for r in fake.requests_to(fake.search_path) if r.arrived > killed_at]
    # the restarted attempt asked for page 2 by its stored link (under /wiki), then page 3
    assert [r.query.get("cursor") is not None for r in resumed] == [True, True]
    assert job["result"]["contents"] == 35  # what the resumed attempt fetched: pages 2 and 3
    assert set(stored(host, "work")) == {p.id for p in pages}
    ids = [e["event_id"] for e in timeline(host, "work")]
    assert len(ids) == len(set(ids)) == 60


def test_a_data_center_site_with_a_personal_access_token(enttok_host) -> None:
    fake = FakeConfluence(cloud=False, context="/confluence", time_zone="Europe/Berlin")
    pages = fake.add_pages(30)
    with fake:
        host = enttok_host(plugins=["confluence"])
        site = fake.url + "/confluence"
        add_account(host, fake, "dc", site_url=site, time_zone="Europe/Berlin")
        add_account(host, fake, "dc-no-zone", site_url=site)
        started = datetime.now(UTC)
        job = sync(host, "dc")
        searched = len(fake.requests_to(fake.search_path))
        unsure = sync(host, "dc-no-zone")

    assert job["result"] == {"user": "Ada Lovelace", "contents": 30, "pages": 2}
    assert set(stored(host, "dc")) == {p.id for p in pages}
    searches = fake.requests_to(fake.search_path)[:searched]
    assert [r.query.get("start") for r in searches] == [None, "25"]  # Data Center pages by start
    assert not fake.requests_to("/confluence/rest/api/settings"), "Data Center has no systemInfo"
    window = cql_since(searches[0].query["cql"], ZoneInfo("Europe/Berlin"))
    assert abs(window - (started - timedelta(days=30))) < timedelta(minutes=3)
    entry = timeline(host, "dc")[0]
    assert entry["url"].startswith(f"{site}/spaces/DEV/pages/")

    # without the site's time zone, the search reaches 12 hours further back, and says so
    assert unsure["result"]["contents"] == 30
    (unsure_cql,) = searched_cql(fake, searched)
    reach = cql_since(unsure_cql, ZoneInfo("UTC"))
    assert abs(reach - (started - timedelta(days=30, hours=12))) < timedelta(minutes=3)
    warnings = [e["message"] for e in host.job_events(unsure["job_id"]) if e.get("level") == "warning"]
    assert any("time zone is unknown" in w for w in warnings), warnings
