"""`claude.suggest.generate`: a journal suggestion for one day, written by Claude from the
day's activity timeline (every connector's entries, read with `ctx.activity`).

The suggestion is stored in `claude_suggestions` under the job's id and served by
`GET /plugins/claude/suggestions`. Its run is kept as a session like any other, so the
person can ask for changes by spawning a run in that session. A day with no activity is
not sent to Claude: there is nothing to write up, and nothing is spent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from enttok import JobContext
from enttok_claude import process, prompt, store
from enttok_claude.models import MAX_PROMPT_BYTES, SuggestPayload
from enttok_claude.run import run_in_session, settings_of, write

#: Bytes of the existing note read at most; the prompt keeps a share of the limit of it.
NOTE_READ_LIMIT = 1024 * 1024


async def generate(ctx: JobContext, payload: SuggestPayload) -> dict[str, Any]:
    settings = settings_of(ctx)
    binary = process.locate(settings.binary)
    zone = ZoneInfo(settings.timezone)
    day = payload.note_date or dt.datetime.now(zone).date() - dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time.min, zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, zone)
    entries = await ctx.run_blocking(ctx.activity, start, end)
    summary = {"note_date": day.isoformat(), "note_path": payload.note_path, "entries": len(entries)}
    if not entries:
        ctx.log(f"no activity on {day.isoformat()}: nothing to write up")
        return {**summary, "suggestion_id": None, "entries_shown": 0}
    note_text = await ctx.run_blocking(_read_note, payload.note_path) if payload.note_path else None
    limit = payload.context_limit or settings.context_limit
    while True:
        journal = prompt.build(
            day, entries, zone=zone, limit=limit, note_path=payload.note_path, note_text=note_text
        )
        size = len(journal.text.encode("utf-8", errors="surrogatepass"))
        if size <= MAX_PROMPT_BYTES:
            break
        limit = limit * MAX_PROMPT_BYTES // size  # text of many bytes a character (Korean: 3)
    ctx.log(
        f"{journal.shown} of {len(entries)} timeline entries go to Claude", prompt_chars=len(journal.text)
    )
    session = await ctx.run_blocking(_new_session, ctx, f"Journal for {day.isoformat()}")
    invocation = process.Invocation(binary=binary, prompt=journal.text, model=payload.model or settings.model)
    outcome = await run_in_session(ctx, session["session_id"], invocation, time_limit=settings.run_timeout)
    suggestion = {
        "suggestion_id": ctx.job_id,
        "note_date": day.isoformat(),
        "note_path": payload.note_path,
        "markdown": outcome.text.strip(),
        "entries": journal.entries,
        "entries_shown": journal.shown,
        "session_id": session["session_id"],
        "cost_usd": outcome.cost_usd,
        "created_at": store.now(),
    }
    await ctx.run_blocking(write, ctx, store.save_suggestion, suggestion)
    return suggestion


def _read_note(path: str) -> str | None:
    """The note's text as it is now, or None if there is no such file yet."""
    note = Path(path).expanduser()
    try:
        with note.open("rb") as handle:
            return handle.read(NOTE_READ_LIMIT).decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _new_session(ctx: JobContext, title: str) -> dict[str, Any]:
    with ctx.transaction() as connection:
        return store.new_session(connection, title=title, session_id=f"ses_{ctx.job_id.removeprefix('job_')}")
