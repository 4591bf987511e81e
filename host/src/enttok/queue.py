"""The durable job queue: every state change of a job, as SQL, in one place.

States: queued -> running -> succeeded | failed | canceled, and running -> queued again for
a retry. Each change is one transaction that also records its `job.status` event, so the
table and the event stream cannot disagree. Methods run on the event loop's thread (see
`store`), which is what makes the in-memory queue depth exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from enttok import clock
from enttok.events import EventBus, event_from_row
from enttok.store import Database

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
CLAIM_LOOKAHEAD = 4
"""A claim reads this many candidates per free slot, so jobs of a type at its concurrency
limit do not hide the due jobs behind them."""


class QueueFull(Exception):
    """The queue holds its maximum of waiting jobs."""


class JobNotFound(LookupError):
    pass


class JobAlreadyEnded(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class ClaimedJob:
    job_id: str
    type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended. `queued` puts the job back (a retry, or an interrupted run that
    gives its attempt back); the others are final."""

    job_id: str
    status: Literal["succeeded", "failed", "canceled", "queued"]
    result: Any = None
    error: dict[str, Any] | None = None
    run_after: str | None = None
    refund_attempt: bool = False


class JobQueue:
    def __init__(self, db: Database, bus: EventBus, max_depth: int) -> None:
        self._db = db
        self._bus = bus
        self.max_depth = max_depth
        self.depth = self._count("queued")
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._pending_keys: dict[str, dict[str, Any]] = {}
        self.on_committed: Callable[[], None] = lambda: None
        """Called after new jobs are committed (the worker pool's wake-up)."""

    def _count(self, status: str) -> int:
        return self._db.connection.execute(
            "SELECT count(*) FROM jobs WHERE status = ?", (status,)
        ).fetchone()[0]

    # -- life cycle

    def recover(self) -> tuple[int, int]:
        """Jobs left `running` by a host that died: queued again, or failed when out of attempts."""
        now = clock.now_iso()
        error = json.dumps(
            {"code": "interrupted", "message": "the host stopped while the job ran", "retryable": False}
        )
        with self._db.transaction() as tx:
            stranded = tx.execute(
                "SELECT job_id, attempt, max_attempts FROM jobs WHERE status = 'running'"
            ).fetchall()
            events = []
            for row in stranded:
                out_of_attempts = row["attempt"] >= row["max_attempts"]
                status = "failed" if out_of_attempts else "queued"
                tx.execute(
                    "UPDATE jobs SET status = ?, updated_at = ?, run_after = ?, error_json = ?, finished_at = ?"
                    " WHERE job_id = ?",
                    (
                        status,
                        now,
                        now,
                        error if out_of_attempts else None,
                        now if out_of_attempts else None,
                        row[0],
                    ),
                )
                events.append(
                    self._bus.record(tx, "job.status", job_id=row[0], status=status, recovered=True)
                )
        self._bus.publish(events)
        self.depth = self._count("queued")
        failed = sum(event["status"] == "failed" for event in events)
        return len(events) - failed, failed

    async def submit(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        max_attempts: int,
        dedupe_key: str | None = None,
        run_after: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store a new job (True), or return the live job holding `dedupe_key` (False).

        It returns once the job is committed. Submissions arriving in the same turn of the
        event loop share one transaction (a group commit): under load that is what keeps the
        queue's write rate, and with it HTTP throughput, from being one fsync'd commit per job.
        """
        if dedupe_key is not None:
            live = self._pending_keys.get(dedupe_key) or self._live_by_key(dedupe_key)
            if live is not None:
                return live, False
        if self.depth >= self.max_depth:
            raise QueueFull
        now = clock.now_iso()
        record = {
            "job_id": new_job_id(),
            "type": type,
            "status": "queued",
            "created_at": now,
            "updated_at": now,
            "run_after": run_after or now,
            "attempt": 0,
            "max_attempts": max_attempts,
            "progress": None,
            "message": None,
            "payload": payload,
            "result": None,
            "error": None,
            "dedupe_key": dedupe_key,
        }
        loop = asyncio.get_running_loop()
        committed = loop.create_future()
        if not self._pending:
            loop.call_soon(self._commit_pending)
        self._pending.append((record, committed))
        if dedupe_key is not None:
            self._pending_keys[dedupe_key] = record
        self.depth += 1
        await committed
        return record, True

    def _live_by_key(self, dedupe_key: str) -> dict[str, Any] | None:
        row = self._db.connection.execute(
            "SELECT * FROM jobs WHERE dedupe_key = ? AND status IN ('queued', 'running')", (dedupe_key,)
        ).fetchone()
        return job_from_row(row) if row is not None else None

    def _commit_pending(self) -> None:
        pending, self._pending, self._pending_keys = self._pending, [], {}
        try:
            with self._db.transaction() as tx:
                tx.executemany(
                    "INSERT INTO jobs (job_id, type, status, created_at, updated_at, run_after, max_attempts,"
                    " payload_json, dedupe_key) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r["job_id"],
                            r["type"],
                            r["created_at"],
                            r["updated_at"],
                            r["run_after"],
                            r["max_attempts"],
                            json.dumps(r["payload"]),
                            r["dedupe_key"],
                        )
                        for r, _ in pending
                    ],
                )
                events = [
                    self._bus.record(
                        tx, "job.status", job_id=r["job_id"], status="queued", job_type=r["type"]
                    )
                    for r, _ in pending
                ]
        except Exception as error:
            self.depth -= len(pending)
            for _, committed in pending:
                if not committed.done():
                    committed.set_exception(error)
            return
        self._bus.publish(events)
        for _, committed in pending:
            if not committed.done():
                committed.set_result(None)
        self.on_committed()

    def claim(self, limit: int, room: Mapping[str, int] | None = None) -> list[ClaimedJob]:
        """Mark up to `limit` due jobs running, oldest `run_after` first. `room` caps the job
        types that have a concurrency limit: how many more of each may start now."""
        room = dict(room or {})
        if limit <= 0 or self.depth == 0:
            return []
        now = clock.now_iso()
        full = [name for name, free in room.items() if free <= 0]
        exclusion = f" AND type NOT IN ({', '.join('?' * len(full))})" if full else ""
        with self._db.transaction() as tx:
            candidates = tx.execute(
                "SELECT job_id, type, payload_json, attempt, max_attempts FROM jobs"
                f" WHERE status = 'queued' AND run_after <= ?{exclusion} ORDER BY run_after, job_id LIMIT ?",
                (now, *full, limit * CLAIM_LOOKAHEAD),
            ).fetchall()
            rows = []
            for row in candidates:
                if row[1] in room:
                    if room[row[1]] <= 0:
                        continue
                    room[row[1]] -= 1
                rows.append(row)
                if len(rows) == limit:
                    break
            if not rows:
                return []
            tx.executemany(
                "UPDATE jobs SET status = 'running', attempt = attempt + 1, updated_at = ? WHERE job_id = ?",
                [(now, row[0]) for row in rows],
            )
            events = [
                self._bus.record(tx, "job.status", job_id=row[0], status="running", attempt=row[3] + 1)
                for row in rows
            ]
        self._bus.publish(events)
        self.depth -= len(rows)
        return [ClaimedJob(row[0], row[1], json.loads(row[2]), row[3] + 1, row[4]) for row in rows]

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record how attempts ended, all in one transaction."""
        if not outcomes:
            return
        now = clock.now_iso()
        events = []
        with self._db.transaction() as tx:
            for outcome in outcomes:
                final = outcome.status != "queued"
                error_json = json.dumps(outcome.error) if outcome.error is not None else None
                tx.execute(
                    "UPDATE jobs SET status = ?, updated_at = ?, finished_at = ?, run_after = ?, result_json = ?,"
                    " error_json = ?, attempt = attempt - ?, progress = CASE WHEN ? = 'succeeded' THEN 1.0"
                    " ELSE progress END WHERE job_id = ?",
                    (
                        outcome.status,
                        now,
                        now if final else None,
                        outcome.run_after or now,
                        json.dumps(outcome.result) if outcome.result is not None else None,
                        error_json,
                        int(outcome.refund_attempt),
                        outcome.status,
                        outcome.job_id,
                    ),
                )
                fields: dict[str, Any] = {"status": outcome.status}
                if outcome.error is not None:
                    fields["error"] = outcome.error
                if not final:
                    fields["run_after"] = outcome.run_after or now
                events.append(self._bus.record(tx, "job.status", job_id=outcome.job_id, **fields))
        self._bus.publish(events)
        self.depth += sum(outcome.status == "queued" for outcome in outcomes)

    def cancel_queued(self, job_id: str) -> str:
        """Cancel a queued job at once; the job's status afterwards (`running` means the
        caller must ask its worker). Raises JobNotFound or JobAlreadyEnded."""
        connection = self._db.connection
        row = connection.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        if row[0] in TERMINAL:
            raise JobAlreadyEnded(row[0])
        if row[0] == "running":
            return "running"
        now = clock.now_iso()
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE jobs SET status = 'canceled', updated_at = ?, finished_at = ? WHERE job_id = ?",
                (now, now, job_id),
            )
            event = self._bus.record(tx, "job.status", job_id=job_id, status="canceled")
        self._bus.publish([event])
        self.depth -= 1
        return "canceled"

    def report_progress(self, job_id: str, progress: float | None, message: str | None) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE jobs SET progress = coalesce(?, progress), message = coalesce(?, message), updated_at = ?"
                " WHERE job_id = ?",
                (progress, message, clock.now_iso(), job_id),
            )
            event = self._bus.record(tx, "job.progress", job_id=job_id, progress=progress, message=message)
        self._bus.publish([event])

    # -- reading

    def get(self, job_id: str) -> dict[str, Any]:
        row = self._db.connection.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return job_from_row(row)

    def list(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; `before` is the last job_id of the previous page."""
        clauses, params = [], []
        for column, value in (("status", status), ("type", type)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            clauses.append("job_id < ?")
            params.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.connection.execute(
            f"SELECT * FROM jobs{where} ORDER BY job_id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [job_from_row(row) for row in rows]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        self.get(job_id)
        rows = self._db.connection.execute(
            "SELECT * FROM job_events WHERE job_id = ? ORDER BY seq", (job_id,)
        ).fetchall()
        return [event_from_row(row) for row in rows]

    def next_due(self) -> str | None:
        """The earliest `run_after` of a queued job, so the dispatcher knows when to wake."""
        row = self._db.connection.execute(
            "SELECT run_after FROM jobs WHERE status = 'queued' ORDER BY run_after LIMIT 1"
        ).fetchone()
        return row[0] if row else None


def job_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "job_id": row["job_id"],
        "type": row["type"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "run_after": row["run_after"],
        "attempt": row["attempt"],
        "max_attempts": row["max_attempts"],
        "progress": row["progress"],
        "message": row["message"],
        "payload": json.loads(row["payload_json"]),
        "result": json.loads(row["result_json"]) if row["result_json"] else None,
        "error": json.loads(row["error_json"]) if row["error_json"] else None,
        "dedupe_key": row["dedupe_key"],
    }


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_last_id = (0, 0)


def new_job_id() -> str:
    """`job_` and a ULID that grows strictly within this process, so id order is creation order."""
    global _last_id
    with _id_lock:
        millis, randomness = int(time.time() * 1000), int.from_bytes(os.urandom(10), "big")
        last_millis, last_randomness = _last_id
        if millis <= last_millis:
            millis, randomness = last_millis, last_randomness + 1
        _last_id = (millis, randomness)
    value = (millis << 80) | (randomness & ((1 << 80) - 1))
    return "job_" + "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
