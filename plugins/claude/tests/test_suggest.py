"""claude.suggest.generate on the real host: a day of timeline entries from every connector,
written as their syncs write them, becomes a journal suggestion; the prompt keeps to the
context limit with the most telling entries; a day without activity costs nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from claude_host import settle, start, succeeded

from enttok.testing import RunningHost

DAY = "2026-12-03"


def entry(source: str, external_id: str, event_type: str, at: str, title: str, **more: Any) -> dict[str, Any]:
    return {
        "source": source, "account_id": "me", "external_id": external_id, "event_type": event_type,
        "event_time": at, "title": title, **more,
    }  # fmt: skip


#: One working day, as every connector writes it into the timeline, and a day either side.
A_DAY = [
    entry("google_calendar", "standup", "meeting", f"{DAY}T09:00:00Z", "Daily standup"),
    entry(
        "google_calendar",
        "design",
        "meeting",
        f"{DAY}T14:00:00Z",
        "Design review: sync engine",
        description="Agreed to ship cursors per scope",
    ),
    entry(
        "jira",
        "ENT-12:5",
        "issue.resolved",
        f"{DAY}T11:30:00Z",
        "ENT-12 Flaky import resolved",
        url="https://jira.example.test/browse/ENT-12",
    ),
    entry("jira", "ENT-15:1", "issue.created", f"{DAY}T16:00:00Z", "ENT-15 Rate limit the exporter"),
    entry("confluence", "page-9:3", "page.updated", f"{DAY}T15:10:00Z", "Runbook: restoring a backup"),
    entry("github", "pr-42", "pr.merged", f"{DAY}T10:20:00Z", "Merge #42 Parse cron schedules"),
    entry("github", "review-7", "pr.reviewed", f"{DAY}T13:05:00Z", "Reviewed #7 Token rotation"),
    entry("github", "push-1", "push", f"{DAY}T17:45:00Z", "pushed 3 commits to main in acme/enttok"),
    entry("vault", "daily.md", "note.edited", f"{DAY}T18:00:00Z", "daily/2026-12-03.md"),
]
OTHER_DAYS = [
    entry("github", "push-0", "push", "2026-12-02T23:59:59Z", "pushed the day before"),
    entry("jira", "ENT-1:1", "issue.created", "2026-12-04T00:00:00Z", "created the day after"),
]


def seed(host: RunningHost, entries: list[dict[str, Any]]) -> None:
    succeeded(host, "timeline_seed.write", {"entries": entries})


def prompt_of(host: RunningHost, suggestion: dict[str, Any]) -> str:
    session = host.get(f"/plugins/claude/sessions/{suggestion['session_id']}").json()
    (run,) = session["runs"]
    return run["prompt"]


def test_a_day_from_every_connector_becomes_a_stored_journal_suggestion(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    seed(host, A_DAY + OTHER_DAYS)
    note = tmp_path / "vault" / "daily" / f"{DAY}.md"
    note.parent.mkdir(parents=True)
    note.write_text("# 3 December\n\nFelt productive.\n")
    job = succeeded(host, "claude.suggest.generate", {"note_date": DAY, "note_path": str(note)})
    suggestion = job["result"]
    assert suggestion["suggestion_id"] == job["job_id"]
    assert (suggestion["entries"], suggestion["entries_shown"]) == (9, 9)
    assert suggestion["cost_usd"] == 0.0125

    # the fake answers a journal prompt with its timeline lines, in the order given
    expected = [e["title"] for e in sorted(A_DAY, key=lambda e: e["event_time"])]
    lines = suggestion["markdown"].splitlines()[2:]
    assert [line.split(": ", 1)[1].split(" — ")[0].split(" <")[0] for line in lines] == expected
    prompt = prompt_of(host, suggestion)
    assert "the day before" not in prompt and "the day after" not in prompt
    assert "2026-12-03 (Thursday)" in prompt
    assert (
        "- 14:00 [google_calendar] meeting: Design review: sync engine — Agreed to ship cursors per scope"
        in prompt
    )
    assert "<https://jira.example.test/browse/ENT-12>" in prompt
    assert (
        f"The journal note is {note}. It already says:\n<<<\n# 3 December\n\nFelt productive.\n>>>" in prompt
    )
    assert "more of the day's" not in prompt  # everything fitted

    served = host.get("/plugins/claude/suggestions", params={"date": DAY}).json()["suggestions"]
    assert [s["suggestion_id"] for s in served] == [job["job_id"]]
    one = host.get(f"/plugins/claude/suggestions/{job['job_id']}").json()
    assert one["markdown"] == suggestion["markdown"] and one["note_path"] == str(note)
    assert host.get("/plugins/claude/suggestions", params={"date": "2026-12-04"}).json()["suggestions"] == []
    assert host.get("/plugins/claude/suggestions/job_nope").status_code == 404
    assert host.get("/plugins/claude/suggestions", params={"date": "yesterday"}).status_code == 422


def test_the_prompt_keeps_to_the_context_limit_with_the_most_telling_entries(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    pushes = [
        entry(
            "github",
            f"commit-{n}",
            "push",
            f"{DAY}T08:{n % 60:02d}:{n // 60:02d}Z",
            f"pushed commit {n} to main",
        )
        for n in range(200)
    ]
    seed(host, pushes + A_DAY)
    limit = 2000
    suggestion = succeeded(host, "claude.suggest.generate", {"note_date": DAY, "context_limit": limit})[
        "result"
    ]
    prompt = prompt_of(host, suggestion)
    assert len(prompt) <= limit
    assert suggestion["entries"] == 209
    shown = suggestion["entries_shown"]
    assert 5 <= shown < 209
    for telling in (
        "Daily standup",
        "Design review: sync engine",
        "ENT-12 Flaky import resolved",
        "Merge #42",
    ):
        assert telling in prompt
    left_out = 209 - shown
    assert f"… and {left_out} more of the day's 209 entries, not shown (" in prompt
    assert "github " in prompt.rsplit("not shown (", 1)[1]
    timeline = [line for line in prompt.splitlines() if line.startswith("- ")]
    assert len(timeline) == shown
    times = [line[2:7] for line in timeline]
    assert times == sorted(times)  # shown as the day went (HH:MM sorts as text)


def test_a_day_without_activity_is_not_sent_to_claude(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    seed(host, OTHER_DAYS)
    result = succeeded(host, "claude.suggest.generate", {"note_date": DAY})["result"]
    assert result == {
        "note_date": DAY,
        "note_path": None,
        "entries": 0,
        "suggestion_id": None,
        "entries_shown": 0,
    }
    assert fake.calls() == []
    assert host.get("/plugins/claude/suggestions").json()["suggestions"] == []


def test_without_a_date_it_writes_up_the_day_that_last_ended_in_the_settings_zone(
    enttok_host, tmp_path
) -> None:
    host, _ = start(enttok_host, tmp_path)
    settle(host, timezone="Asia/Seoul")
    zone = ZoneInfo("Asia/Seoul")
    yesterday = dt.datetime.now(zone).date() - dt.timedelta(days=1)
    # 00:30 Seoul time is 15:30 UTC the day before: in Seoul's day, not in UTC's
    early = dt.datetime.combine(yesterday, dt.time(0, 30), zone)
    seed(host, [entry("jira", "x", "issue.resolved", early.isoformat(), "Resolved at dawn")])
    suggestion = succeeded(host, "claude.suggest.generate", {})["result"]
    assert suggestion["note_date"] == yesterday.isoformat()
    assert "- 00:30 [jira] issue.resolved: Resolved at dawn" in prompt_of(host, suggestion)
    assert (
        host.post("/settings", json={"plugins": {"claude": {"timezone": "Mars/Olympus"}}}).status_code == 422
    )


def test_the_daily_schedule_is_declared_and_off_by_default(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    daily = _schedule(host, "claude.daily_journal")
    assert daily["job_type"] == "claude.suggest.generate"
    assert daily["enabled"] is False
    switched = host.post("/settings", json={"host": {"schedules": {"claude.daily_journal": True}}})
    assert switched.status_code == 200, switched.text
    assert _schedule(host, "claude.daily_journal")["enabled"] is True


def _schedule(host: RunningHost, key: str) -> dict[str, Any]:
    (schedule,) = [s for s in host.get("/status").json()["scheduler"]["jobs"] if s["id"] == key]
    return schedule


def test_a_day_in_korean_keeps_the_prompt_within_what_a_command_line_holds(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    title = "스프린트 계획 회의: 동기화 엔진의 커서 설계와 재시도 정책을 검토했다 " * 4
    entries = [
        entry(
            "google_calendar",
            f"m{n}",
            "meeting",
            f"{DAY}T{n // 60:02d}:{n % 60:02d}:00Z",
            f"{title}{n}",
            description=title,
        )
        for n in range(600)
    ]
    seed(host, entries)
    suggestion = succeeded(host, "claude.suggest.generate", {"note_date": DAY, "context_limit": 100_000})[
        "result"
    ]
    prompt = prompt_of(host, suggestion)
    assert len(prompt.encode()) <= 120_000 < 100_000 * 3  # the limit in characters would not have fitted
    assert 0 < suggestion["entries_shown"] < 600
    assert f"… and {600 - suggestion['entries_shown']} more of the day's 600 entries" in prompt
