"""The host's one notion of time: UTC, written as ISO 8601 with a `Z`.

Stored times share one fixed-width format so that SQLite compares them as text in time order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`. Through `isoformat`, a third faster than `strftime`:
    a sync formats a time for every timeline entry it stores."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def now_iso() -> str:
    return iso(now())


def iso_in(seconds: float) -> str:
    """The time `seconds` from now, in stored form."""
    return iso(now() + timedelta(seconds=seconds))


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
