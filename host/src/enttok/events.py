"""The event stream: every event is a `job_events` row whose rowid is its `seq`, then a
message to each live subscriber.

Writers record events inside the transaction that changes the state they describe and
publish them after it commits, so a subscriber never sees an event the database lacks and a
client reconnecting with `?since=` misses nothing. A subscriber that falls `buffer` messages
behind is dropped rather than slowing the queue or the other subscribers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from enttok import clock
from enttok.store import Database

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
_INSERT = (
    "INSERT INTO job_events (job_id, created_at, type, level, message, data_json) VALUES (?, ?, ?, ?, ?, ?)"
)


class SubscriberTooSlow(Exception):
    """The subscriber fell too far behind and was dropped; it should reconnect with `since`."""


class Subscriber:
    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=buffer)
        self.dropped = False

    def offer(self, event: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True


class EventBus:
    def __init__(self, database: Database, buffer: int = 2000) -> None:
        self._database = database
        self._buffer = buffer
        self._subscribers: set[Subscriber] = set()

    def record(
        self,
        connection: sqlite3.Connection,
        type: str,
        *,
        job_id: str | None = None,
        level: str = "info",
        message: str | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        """Insert the event in the caller's open transaction; publish the result after commit."""
        created_at = clock.now_iso()
        cursor = connection.execute(_INSERT, (job_id, created_at, type, level, message, _data_json(data)))
        return _message(cursor.lastrowid, type, job_id, level, message, created_at, data)

    def record_many(
        self,
        connection: sqlite3.Connection,
        type: str,
        entries: Sequence[tuple[str, dict[str, Any]]],
        at: str,
    ) -> list[dict[str, Any]]:
        """`record` for a batch: one `type` event per `(job_id, data)`, all stamped `at` (the
        time of the change they describe), inserted by one `executemany` instead of one
        statement each.

        Their seqs are the highest `len(entries)` in the table: the caller's write
        transaction keeps every other writer out, and AUTOINCREMENT gives each new row a
        larger seq than any before it, so those are the rows just inserted, in order."""
        if not entries:
            return []
        connection.executemany(
            _INSERT, [(job_id, at, type, "info", None, _data_json(data)) for job_id, data in entries]
        )
        newest_first = connection.execute(
            "SELECT seq FROM job_events ORDER BY seq DESC LIMIT ?", (len(entries),)
        ).fetchall()
        return [
            _message(seq, type, job_id, "info", None, at, data)
            for (seq,), (job_id, data) in zip(reversed(newest_first), entries, strict=True)
        ]

    def publish(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            for subscriber in self._subscribers:
                subscriber.offer(event)

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        """Record and publish one event in a transaction of its own."""
        with self._database.transaction() as tx:
            event = self.record(tx, type, **fields)
        self.publish([event])
        return event

    async def stream(self, since: int | None) -> AsyncIterator[dict[str, Any]]:
        """Every persisted event after `since`, then live ones; raises SubscriberTooSlow."""
        subscriber = Subscriber(self._buffer)
        self._subscribers.add(subscriber)  # before the replay, so nothing falls in between
        try:
            last = since if since is not None else self.last_seq()
            if since is not None:
                while page := self.events_after(last, REPLAY_PAGE):
                    for event in page:
                        yield event
                    last = page[-1]["seq"]
            while True:
                if subscriber.dropped:
                    raise SubscriberTooSlow
                event = await subscriber.queue.get()
                if event["seq"] > last:
                    last = event["seq"]
                    yield event
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def last_seq(self) -> int:
        row = self._database.connection.execute("SELECT max(seq) FROM job_events").fetchone()
        return row[0] or 0

    def events_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        rows = self._database.connection.execute(
            "SELECT * FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [event_from_row(row) for row in rows]


def _data_json(data: dict[str, Any]) -> str | None:
    return json.dumps(data) if data else None


def event_from_row(row: sqlite3.Row) -> dict[str, Any]:
    data = json.loads(row["data_json"]) if row["data_json"] else {}
    return _message(
        row["seq"], row["type"], row["job_id"], row["level"], row["message"], row["created_at"], data
    )


def _message(
    seq: int | None,
    type: str,
    job_id: str | None,
    level: str,
    message: str | None,
    created_at: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": type,
        "job_id": job_id,
        "level": level,
        "message": message,
        "at": created_at,
        **data,
    }
