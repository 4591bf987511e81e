"""The journal prompt: a day's timeline, cut to the context limit with the most telling
entries kept, and a count of the rest.

What tells most about a day is ranked by the kind of entry: a meeting attended or work
finished (a merged pull request, a resolved issue, a published page) before work started,
reviews and comments, and those before pushes and edits, which come in bursts. Within a
rank the entry with more to say (a description) goes first, then the earlier one. The
entries kept are then shown in time order, as the day went.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from enttok import Activity
from enttok_claude.stream import clip

#: (words in an entry's type or source, rank): the first that matches counts.
RANKS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("meeting", "calendar", "attended"), 100),
    (("merged", "resolved", "done", "closed", "released", "published", "completed"), 80),
    (("opened", "created", "reviewed", "transitioned", "assigned"), 60),
    (("comment", "updated", "edited", "mentioned"), 40),
    (("push", "commit"), 30),
)
DEFAULT_RANK = 20
DESCRIPTION_LIMIT = 200
NOTE_SHARE = 4
"""At most 1/NOTE_SHARE of the limit goes to the text already in the note."""

INSTRUCTIONS = """\
Draft the work journal entry for {day} from the activity below: what the person's tools \
recorded that day ({timezone} times). Write Markdown: a one-line summary, then short \
sections such as Meetings, Done, In progress and Follow-ups, only those that apply. Use only \
these facts; do not invent any. Write in the language of the existing note if there is one. \
Reply with the Markdown alone.
"""


@dataclass(frozen=True)
class JournalPrompt:
    text: str
    entries: int
    shown: int


def rank(entry: Activity) -> int:
    words = f"{entry.event_type} {entry.source or ''}".lower()
    for keys, value in RANKS:
        if any(key in words for key in keys):
            return value
    return DEFAULT_RANK


def line(entry: Activity, zone: ZoneInfo) -> str:
    when = entry.event_time.astimezone(zone).strftime("%H:%M")
    text = f"- {when} [{entry.source}] {entry.event_type}: {clip(entry.title or '(untitled)', 200)}"
    if entry.description:
        text += f" — {clip(entry.description, DESCRIPTION_LIMIT)}"
    if entry.url:
        text += f" <{entry.url}>"
    return text + "\n"


def build(
    day: dt.date,
    entries: Sequence[Activity],
    *,
    zone: ZoneInfo,
    limit: int,
    note_path: str | None = None,
    note_text: str | None = None,
) -> JournalPrompt:
    """The prompt for `day`, at most `limit` characters long (given a limit the
    instructions fit in)."""
    head = INSTRUCTIONS.format(day=f"{day.isoformat()} ({day.strftime('%A')})", timezone=zone.key)
    note = ""
    if note_path:
        note = f"\nThe journal note is {clip(note_path, 300)}."
        if note_text and note_text.strip():
            note += f" It already says:\n<<<\n{clip_block(note_text, limit // NOTE_SHARE)}\n>>>"
        note += "\n"
    ranked = sorted(entries, key=lambda e: (-rank(e), not e.description, e.event_time))
    rendered = {id(entry): line(entry, zone) for entry in entries}
    # Room for the timeline: the limit less the fixed parts and the longest "N more" line.
    room = limit - len(head) - len(note) - len("\nTimeline:\n") - len(_rest_line(entries, entries))
    kept: list[Activity] = []
    for entry in ranked:
        if len(rendered[id(entry)]) <= room:
            kept.append(entry)
            room -= len(rendered[id(entry)])
    kept_ids = {id(entry) for entry in kept}
    left_out = [entry for entry in entries if id(entry) not in kept_ids]
    timeline = "".join(rendered[id(entry)] for entry in sorted(kept, key=lambda e: e.event_time))
    text = f"{head}{note}\nTimeline:\n{timeline}{_rest_line(left_out, entries)}"
    return JournalPrompt(text=text, entries=len(entries), shown=len(kept))


def clip_block(text: str, limit: int) -> str:
    """Text kept as written (lines and all), cut to `limit` characters."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rest_line(left_out: Sequence[Activity], entries: Sequence[Activity]) -> str:
    if not left_out:
        return ""
    by_source = Counter(entry.source or "?" for entry in left_out)
    sources = ", ".join(f"{source} {count}" for source, count in sorted(by_source.items()))
    return f"… and {len(left_out)} more of the day's {len(entries)} entries, not shown ({sources}).\n"
