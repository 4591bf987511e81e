"""The event stream: every event is a `job_events` row whose rowid is its `seq`, then a
message to each live subscriber.

Writers record events inside the transaction that changes the state they describe and
publish them after it commits, so a subscriber never sees an event the database lacks and a
client reconnecting with `?since=` misses nothing. Live events go into one shared tail that
every subscriber reads at its own pace (`LiveTail`); a subscriber that falls `buffer` events
behind is dropped rather than slowing the queue or the other subscribers.

The one exception is `broadcast`, for an event the database refuses to store (the host's
health while the disk is full): it goes to the live subscribers only, with `seq` null, and
is never replayed. Its state is still there to read (`/health`), and the event that says it
has passed is stored as usual.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

from enttok import clock
from enttok.store import Database

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
BATCH_EVENTS = 500
"""At most this many events in one batched message, and about BATCH_CHARS of text: far
below the 1 MiB a WebSocket client commonly accepts in one message."""
BATCH_CHARS = 256 * 1024
JOINED_KEPT = 8
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


class LiveTail:
    """The newest `capacity` published events, each encoded once, read by every subscriber
    from a position of its own.

    Publishing appends once and wakes the waiting subscribers once, however many there are
    and however many events came; each then takes everything after its position in one go.
    So a burst of events costs one wake per subscriber, not one per event per subscriber.
    A subscriber whose position has left the tail (over `capacity` events behind) is too
    slow. Positions count published items (live-only ones too), not seqs."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.end = 0
        """The position after the newest item."""
        self._items: list[tuple[int | None, str]] = []
        self._starts: list[int] = []  # per item, the length of all text appended before it
        self._length = 0
        self._base = 0  # the position of self._items[0]
        self._arrived: asyncio.Future[None] | None = None
        self._joined: dict[tuple[int, int], str] = {}

    @property
    def start(self) -> int:
        """The oldest position still readable."""
        return max(self._base, self.end - self.capacity)

    def append(self, items: list[tuple[int | None, str]]) -> None:
        for item in items:
            self._items.append(item)
            self._starts.append(self._length)
            self._length += len(item[1])
        self.end += len(items)
        if len(self._items) > 2 * self.capacity:  # trim now and then, not on every append
            drop = len(self._items) - self.capacity
            del self._items[:drop], self._starts[:drop]
            self._base += drop
        if self._arrived is not None:
            self._arrived.set_result(None)
            self._arrived = None

    async def wait_beyond(self, position: int) -> None:
        """Return once an item is past `position`. One future for all waiters: shielded, so
        a subscriber that leaves cancels only its own wait."""
        while position >= self.end:
            if self._arrived is None:
                self._arrived = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._arrived)

    def read(self, position: int) -> list[tuple[int | None, str]]:
        """The items from `position` on, at most what one message may carry (BATCH_EVENTS,
        and BATCH_CHARS of text give or take the last event); SubscriberTooSlow once
        `position` has left the tail."""
        if position < self.start:
            raise SubscriberTooSlow
        offset = position - self._base
        stop = min(offset + BATCH_EVENTS, len(self._items))
        stop = bisect.bisect_right(self._starts, self._starts[offset] + BATCH_CHARS, offset, stop)
        return self._items[offset:stop]

    def joined(self, position: int, count: int) -> str:
        """`count` items from `position` as one JSON array: the text of a batched message,
        made once for all the subscribers at the same place. They keep together in a few
        groups (those whose turn came in this window of the budget, those left for the
        next), so the last JOINED_KEPT arrays are kept."""
        key = (position, count)
        if (text := self._joined.get(key)) is None:
            offset = position - self._base
            text = self._joined[key] = _json_array(t for _, t in self._items[offset : offset + count])
            if len(self._joined) > JOINED_KEPT:
                del self._joined[next(iter(self._joined))]  # the oldest
        return text


class SendBudget:
    """The share of the event loop that sending to subscribers may take.

    Each message is a socket write to one subscriber: with a thousand subscribers, sending
    alone could take all the loop and the queue would slow down with them. Senders report
    the time each message took (made and sent); once they have spent `share` of a `window`,
    they wait for the next one, so the queue's own work (requests, dispatch, commits) always
    gets the rest.
    A batched subscriber (`?batch=1`) then takes all that came meanwhile in one message, so
    it costs a message per turn rather than per event; any subscriber that still falls
    `buffer` events behind is dropped as too slow (docs/api.md): slow clients, or more of
    them than the share can serve, never slow the queue."""

    def __init__(self, window: float = 0.05, share: float = 0.1) -> None:
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
        """Charge `seconds`, timed with `time.perf_counter`: the loop's own clock (uvloop's)
        stands still within a turn of the loop, so it would charge nothing, or a whole turn."""
        self._spent += seconds

    def _reopen(self) -> None:
        reopened, self._reopened = self._reopened, None
        if reopened is not None:
            reopened.set()


class EventBus:
    def __init__(self, database: Database, buffer: int = 2000) -> None:
        self._database = database
        self._tail = LiveTail(buffer)
        self._subscribers = 0
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
        """Hand committed events to the live subscribers, in commit order, which is seq order:
        every writer publishes on the event loop right after its commit."""
        if self._subscribers:
            self._tail.append([(event["seq"], json.dumps(event)) for event in events])

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

    async def stream(self, since: int | None, *, batch: bool = False) -> AsyncIterator[str]:
        """The JSON text of every stored event after `since`, then of live ones: one message
        per event, or with `batch` one JSON array per message of all that is ready (at most
        BATCH_EVENTS events and about BATCH_CHARS), in order either way. Each message waits
        for a turn in the `send_budget`, which is charged the time it took to make (a read of
        the database or the tail) and to send (until the next one is asked for).

        Raises SinceAhead at once when `since` is beyond any seq ever issued here, and
        SubscriberTooSlow when the client falls `buffer` events behind."""
        if since is not None and since > (newest := self.newest_seq()):
            raise SinceAhead(since, newest)
        budget = self.send_budget
        self._subscribers += 1
        try:
            async for messages in self._messages(since, batch):
                for text in messages:
                    await budget.wait_turn()
                    started = time.perf_counter()
                    yield text
                    budget.spent(time.perf_counter() - started)
        finally:
            self._subscribers -= 1

    async def _messages(self, since: int | None, batch: bool) -> AsyncIterator[list[str]]:
        """`stream`'s messages, a page or a read of the tail at a time. The tail is read only
        once the budget gives a turn, so a subscriber that waited takes all that came."""
        tail, budget = self._tail, self.send_budget
        position = tail.end  # before the replay, so nothing falls in between
        last = since if since is not None else self.last_seq()
        while since is not None:  # the replay: its reads are sending too, charged the same
            await budget.wait_turn()
            started = time.perf_counter()
            page = self.events_after(last, REPLAY_PAGE)
            texts = [json.dumps(event) for event in page]
            budget.spent(time.perf_counter() - started)
            if not page:
                break
            yield list(_batched(texts)) if batch else texts
            last = page[-1]["seq"]
        while True:
            await tail.wait_beyond(position)
            await budget.wait_turn()
            started = time.perf_counter()
            items = tail.read(position)
            fresh = _after(items, last)
            if batch and fresh is items:
                messages = [tail.joined(position, len(items))]
            elif batch and fresh:
                messages = [_json_array(text for _, text in fresh)]
            else:
                messages = [text for _, text in fresh]
            budget.spent(time.perf_counter() - started)
            yield messages
            position += len(items)
            last = next((seq for seq, _ in reversed(items) if seq is not None), last)

    @property
    def subscriber_count(self) -> int:
        return self._subscribers

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


def _after(items: list[tuple[int | None, str]], last: int) -> list[tuple[int | None, str]]:
    """The items a subscriber has not had: seq after `last`, or live-only (no seq). Items
    come in seq order, so only a first stretch can be old (just after a replay), and
    `items` itself comes back when none is: the usual case, checked in one step."""
    for index, (seq, _) in enumerate(items):
        if seq is not None and seq > last:
            return (
                items if index == 0 else [item for item in items[:index] if item[0] is None] + items[index:]
            )
    return [item for item in items if item[0] is None]


def _json_array(texts: Iterable[str]) -> str:
    return "[" + ",".join(texts) + "]"


def _batched(texts: list[str]) -> Iterator[str]:
    """`texts` as JSON arrays of about BATCH_CHARS at most (one event over it goes alone)."""
    batch: list[str] = []
    length = 0
    for text in texts:
        if batch and length + len(text) > BATCH_CHARS:
            yield _json_array(batch)
            batch, length = [], 0
        batch.append(text)
        length += len(text)
    if batch:
        yield _json_array(batch)


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
