"""The event stream: every event is a `job_events` row whose rowid is its `seq`, then a
message to each live subscriber.

Writers record events inside the transaction that changes the state they describe and
publish them after it commits, so a subscriber never sees an event the database lacks and a
client reconnecting with `?since=` misses nothing. A subscriber that falls `buffer` messages
behind is dropped rather than slowing the queue or the other subscribers.

The one exception is `broadcast`, for an event the database refuses to store (the host's
health while the disk is full): it goes to the live subscribers only, with `seq` null, and
is never replayed. Its state is still there to read (`/health`), and the event that says it
has passed is stored as usual.
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


class SinceAhead(Exception):
    """`since` names a seq this database never issued: its events were reset (a restored or
    new data dir), so the client's state is from another history and must be fetched again."""

    def __init__(self, since: int, newest: int) -> None:
        super().__init__(f"since={since} is ahead of the stream, whose newest seq is {newest}")
        self.since, self.newest = since, newest


class Subscriber:
    """One client's backlog of `(seq, JSON text)`: the text is encoded once per event, in
    `publish`, and shared by every subscriber."""

    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[tuple[int | None, str]] = asyncio.Queue(maxsize=buffer)
        self.dropped = False

    def offer(self, item: tuple[int | None, str]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True


class SendBudget:
    """The share of the event loop that sending to subscribers may take.

    Every event goes to every subscriber as a frame of its own, one socket write each: with
    a thousand subscribers, that alone would take all the loop and the queue would slow down
    with them. Senders report the time each send took; once they have spent `share` of a
    `window`, they wait for the next one, so the queue's own work (requests, dispatch,
    commits) always gets the rest. Subscribers that then fall `buffer` events behind are
    dropped as too slow (docs/api.md): slow clients never slow the queue."""

    def __init__(self, window: float = 0.05, share: float = 0.5) -> None:
        self.window = window
        self.allowance = window * share
        self._window_ends = 0.0
        self._spent = 0.0
        self._reopened: asyncio.Event | None = None

    async def wait_turn(self) -> None:
        """Return at once while this window has time left; else when the next one opens."""
        while True:
            now = asyncio.get_running_loop().time()
            if now >= self._window_ends:
                self._window_ends, self._spent = now + self.window, 0.0
            if self._spent < self.allowance:
                return
            if self._reopened is None:
                self._reopened = asyncio.Event()
                asyncio.get_running_loop().call_at(self._window_ends, self._reopen)
            await self._reopened.wait()

    def spent(self, seconds: float) -> None:
        self._spent += seconds

    def _reopen(self) -> None:
        reopened, self._reopened = self._reopened, None
        if reopened is not None:
            reopened.set()


class EventBus:
    def __init__(self, database: Database, buffer: int = 2000) -> None:
        self._database = database
        self._buffer = buffer
        self._subscribers: set[Subscriber] = set()
        self.send_budget = SendBudget()
        self._broadcast_last: dict[str, str] = {}
        """Per type, the last live-only event sent (but its time), so a retry sends no copy."""

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
        if not self._subscribers:
            return
        for event in events:
            item = (event["seq"], json.dumps(event))
            for subscriber in self._subscribers:
                subscriber.offer(item)

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        """Record and publish one event in a transaction of its own."""
        with self._database.transaction() as tx:
            event = self.record(tx, type, **fields)
        self._broadcast_last.pop(type, None)
        self.publish([event])
        return event

    def broadcast(
        self,
        type: str,
        *,
        job_id: str | None = None,
        level: str = "info",
        message: str | None = None,
        **data: Any,
    ) -> bool:
        """Send an event the database refused to store to the live subscribers only.

        It has `seq` null and a client reconnecting with `since` never sees it, so use it only
        where the state it announces can be read again (`/health`) or does not matter once
        past. The same event sent twice in a row (a retry that failed again) goes out once;
        whether it went out."""
        event = _message(None, type, job_id, level, message, clock.now_iso(), data)
        unchanged = json.dumps({**event, "at": None}, sort_keys=True)
        if self._broadcast_last.get(type) == unchanged:
            return False
        self._broadcast_last[type] = unchanged
        self.publish([event])
        return True

    async def stream(self, since: int | None) -> AsyncIterator[tuple[int | None, str]]:
        """`(seq, JSON text)` of every persisted event after `since`, then of live ones.

        Raises SinceAhead at once when `since` is beyond any seq ever issued here, and
        SubscriberTooSlow when the client falls `buffer` events behind."""
        if since is not None and since > (newest := self.newest_seq()):
            raise SinceAhead(since, newest)
        subscriber = Subscriber(self._buffer)
        self._subscribers.add(subscriber)  # before the replay, so nothing falls in between
        try:
            last = since if since is not None else self.last_seq()
            if since is not None:
                while page := self.events_after(last, REPLAY_PAGE):
                    for event in page:
                        yield event["seq"], json.dumps(event)
                    last = page[-1]["seq"]
            while True:
                if subscriber.dropped:
                    raise SubscriberTooSlow
                seq, text = await subscriber.queue.get()
                if seq is None:  # live only (`broadcast`): it has no place in the order
                    yield seq, text
                elif seq > last:
                    last = seq
                    yield seq, text
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def last_seq(self) -> int:
        row = self._database.connection.execute("SELECT max(seq) FROM job_events").fetchone()
        return row[0] or 0

    def newest_seq(self) -> int:
        """The highest seq ever issued, kept by AUTOINCREMENT even when compaction has
        deleted that event: a `since` above it cannot come from this database."""
        row = self._database.connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'job_events'"
        ).fetchone()
        return row[0] if row else 0

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
