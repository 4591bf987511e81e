"""The durable job queue: every state change of a job, as SQL, in one place.

States: queued -> running -> succeeded | failed | canceled, and running -> queued again for
a retry. Each change is written in the same transaction as its `job.status` event, so the
table and the event stream cannot disagree; changes made in one turn of the event loop share
a transaction where they can (a commit costs more than the rows it writes). Methods run on
the event loop's thread (see `store`), which is what makes the in-memory queue depth exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from enttok import clock
from enttok.events import EventBus, event_from_row
from enttok.ids import new_job_id
from enttok.outcomes import ClaimedJob, Outcome
from enttok.store import WRITE_TIMEOUT, Database
from enttok.store_faults import DatabaseBusy, busy_delays, classify

log = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
CLAIM_LOOKAHEAD = 4
"""A claim reads this many candidates per free slot, so jobs of a type at its concurrency
limit do not hide the due jobs behind them."""


_Pending = tuple[dict[str, Any], asyncio.Future[None]]
"""A submitted job's record and the future its submitter awaits until it is committed."""


class QueueFull(Exception):
    """The queue holds its maximum of waiting jobs."""


class JobNotFound(LookupError):
    pass


class JobAlreadyEnded(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class JobQueue:
    def __init__(self, db: Database, bus: EventBus, max_depth: int) -> None:
        self._db = db
        self._bus = bus
        self.max_depth = max_depth
        self.depth = self._count("queued")
        self._pending: list[_Pending] = []
        self._pending_keys: dict[str, _Pending] = {}
        self._pending_since = 0.0
        """When the oldest submission still waiting for its commit was made (monotonic)."""
        self._commit_delays: Iterator[float] | None = None
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
        event loop share one transaction (a group commit, or the next claim or settlement's
        transaction if that comes first): under load that is what keeps the queue's write
        rate, and with it HTTP throughput, from being one commit per job.
        """
        if dedupe_key is not None:
            waiting = self._pending_keys.get(dedupe_key)
            if waiting is not None:  # answer only once that job is committed too
                await asyncio.shield(waiting[1])
                return waiting[0], False
            live = self._live_by_key(dedupe_key)
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
            self._pending_since = time.monotonic()
            loop.call_soon(self._commit_pending)
        self._pending.append((record, committed))
        if dedupe_key is not None:
            self._pending_keys[dedupe_key] = (record, committed)
        self.depth += 1
        await committed
        return record, True

    def _live_by_key(self, dedupe_key: str) -> dict[str, Any] | None:
        row = self._db.connection.execute(
            "SELECT * FROM jobs WHERE dedupe_key = ? AND status IN ('queued', 'running')", (dedupe_key,)
        ).fetchone()
        return job_from_row(row) if row is not None else None

    def _commit_pending(self) -> None:
        """The group commit of one turn's submissions, unless a claim or a settlement made
        since has already carried them.

        While another connection holds the write lock it tries again a little later (the
        loop serves requests meanwhile), and gives up after WRITE_TIMEOUT: the submitters
        then answer 503. Any other refusal (a full disk) fails them at once."""
        submitted = self._take_pending()
        if not submitted:
            return
        try:
            events, _ = self._store(submitted, (), 0, {})
        except DatabaseBusy as error:
            if time.monotonic() - self._pending_since < WRITE_TIMEOUT:
                self._restore_pending(submitted)
                self._commit_delays = self._commit_delays or busy_delays()
                asyncio.get_running_loop().call_later(next(self._commit_delays), self._commit_pending)
                return
            self._db.report_busy(error)
            self._fail_pending(submitted, error)
            return
        except Exception as error:
            self._fail_pending(submitted, error)
            return
        self._committed(submitted, (), events, [])

    def _fail_pending(self, submitted: list[_Pending], error: Exception) -> None:
        self._commit_delays = None
        self.depth -= len(submitted)
        for _, committed in submitted:
            if not committed.done():
                committed.set_exception(error)

    def claim(self, limit: int, room: Mapping[str, int] | None = None) -> list[ClaimedJob]:
        """Mark up to `limit` due jobs running, oldest `run_after` first. `room` caps the job
        types that have a concurrency limit: how many more of each may start now."""
        if limit <= 0 or self.depth == 0:
            return []
        return self._write_with_pending((), limit, dict(room or {}))

    def settle(self, outcomes: Sequence[Outcome]) -> None:
        """Record how attempts ended, all in one transaction."""
        if outcomes:
            self._write_with_pending(outcomes, 0, {})

    def _write_with_pending(
        self, outcomes: Sequence[Outcome], limit: int, room: dict[str, int]
    ) -> list[ClaimedJob]:
        """A claim or a settlement, in one transaction with the submissions still waiting
        for their group commit: under load the dispatcher claims and settles between
        submissions, and one commit for both costs little more than either.

        If that transaction fails, the submissions wait again for their own group commit
        (still scheduled: it would have emptied the list), so only a failure of their own
        fails them."""
        submitted = self._take_pending()
        try:
            events, rows = self._store(submitted, outcomes, limit, room)
        except Exception:
            self._restore_pending(submitted)
            raise
        return self._committed(submitted, outcomes, events, rows)

    def _take_pending(self) -> list[_Pending]:
        submitted, self._pending, self._pending_keys = self._pending, [], {}
        return submitted

    def _restore_pending(self, submitted: list[_Pending]) -> None:
        self._pending = submitted
        self._pending_keys = {r["dedupe_key"]: (r, f) for r, f in submitted if r["dedupe_key"] is not None}

    def _store(
        self, submitted: list[_Pending], outcomes: Sequence[Outcome], limit: int, room: dict[str, int]
    ) -> tuple[list[dict[str, Any]], list[sqlite3.Row]]:
        """One transaction: insert `submitted`, settle `outcomes`, claim up to `limit` due
        jobs. Its events and the claimed rows; nothing else changes until it has committed."""
        now = clock.now_iso()
        with self._db.transaction() as tx:
            events = self._insert_jobs(tx, submitted, now) if submitted else []
            if outcomes:
                events += self._write_outcomes(tx, outcomes, now)
            rows = self._due(tx, limit, room, now) if limit > 0 else []
            if rows:
                events += self._mark_running(tx, rows, now)
        return events, rows

    def _committed(
        self,
        submitted: list[_Pending],
        outcomes: Sequence[Outcome],
        events: list[dict[str, Any]],
        rows: list[sqlite3.Row],
    ) -> list[ClaimedJob]:
        """After `_store` committed: publish, count, wake the submitters and the pool."""
        self._bus.publish(events)
        self.depth += sum(outcome.status == "queued" for outcome in outcomes) - len(rows)
        if submitted:
            self._commit_delays = None
            for _, committed in submitted:
                if not committed.done():
                    committed.set_result(None)
            self.on_committed()
        return [ClaimedJob(row[0], row[1], json.loads(row[2]), row[3] + 1, row[4]) for row in rows]

    def _insert_jobs(
        self, tx: sqlite3.Connection, submitted: list[_Pending], now: str
    ) -> list[dict[str, Any]]:
        tx.executemany(
            "INSERT INTO jobs (job_id, type, status, created_at, updated_at, run_after, max_attempts,"
            " payload_json, dedupe_key) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
            [_insertion(record) for record, _ in submitted],
        )
        return self._bus.record_many(
            tx,
            "job.status",
            [(r["job_id"], {"status": "queued", "job_type": r["type"]}) for r, _ in submitted],
            now,
        )

    def _due(self, tx: sqlite3.Connection, limit: int, room: dict[str, int], now: str) -> list[sqlite3.Row]:
        """Up to `limit` queued jobs due by `now`, oldest first, within each type's `room`."""
        full = [name for name, free in room.items() if free <= 0]
        exclusion = f" AND type NOT IN ({', '.join('?' * len(full))})" if full else ""
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
        return rows

    def _mark_running(
        self, tx: sqlite3.Connection, rows: list[sqlite3.Row], now: str
    ) -> list[dict[str, Any]]:
        tx.executemany(
            "UPDATE jobs SET status = 'running', attempt = attempt + 1, updated_at = ? WHERE job_id = ?",
            [(now, row[0]) for row in rows],
        )
        return self._bus.record_many(
            tx, "job.status", [(row[0], {"status": "running", "attempt": row[3] + 1}) for row in rows], now
        )

    def _write_outcomes(
        self, tx: sqlite3.Connection, outcomes: Sequence[Outcome], now: str
    ) -> list[dict[str, Any]]:
        tx.executemany(
            "UPDATE jobs SET status = ?, updated_at = ?, finished_at = ?, run_after = ?, result_json = ?,"
            " error_json = ?, attempt = attempt - ?, progress = CASE WHEN ? = 'succeeded' THEN 1.0"
            " ELSE progress END WHERE job_id = ?",
            [_settlement(outcome, now) for outcome in outcomes],
        )
        events = []
        for outcome in outcomes:
            if outcome.also_write is not None:
                events += self._write_alongside(tx, outcome)
        return events + self._bus.record_many(
            tx, "job.status", [(outcome.job_id, _status_fields(outcome, now)) for outcome in outcomes], now
        )

    def _write_alongside(self, tx: sqlite3.Connection, outcome: Outcome) -> list[dict[str, Any]]:
        """`outcome.also_write` in a savepoint of the settlement. A refusal of the database's
        (a full disk) fails the settlement, to be tried again whole; an error in the write's
        own code or SQL undoes only that write."""
        assert outcome.also_write is not None
        tx.execute("SAVEPOINT also_write")
        events: list[dict[str, Any]] = []
        try:
            events = outcome.also_write(tx)
        except Exception as error:
            if isinstance(error, sqlite3.Error) and classify(error, self._db.path) is not None:
                raise
            tx.execute("ROLLBACK TO also_write")
            log.warning(
                "job %s: the write settled with it failed: %s: %s",
                outcome.job_id,
                type(error).__name__,
                error,
            )
        tx.execute("RELEASE also_write")
        return events

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


def _insertion(record: dict[str, Any]) -> tuple[Any, ...]:
    """The parameters of the INSERT that stores a submitted job."""
    return (
        record["job_id"],
        record["type"],
        record["created_at"],
        record["updated_at"],
        record["run_after"],
        record["max_attempts"],
        json.dumps(record["payload"]),
        record["dedupe_key"],
    )


def _settlement(outcome: Outcome, now: str) -> tuple[Any, ...]:
    """The parameters of `settle`'s UPDATE for one outcome."""
    final = outcome.status != "queued"
    return (
        outcome.status,
        now,
        now if final else None,
        outcome.run_after or now,
        json.dumps(outcome.result) if outcome.result is not None else None,
        json.dumps(outcome.error) if outcome.error is not None else None,
        int(outcome.refund_attempt),
        outcome.status,
        outcome.job_id,
    )


def _status_fields(outcome: Outcome, now: str) -> dict[str, Any]:
    """What the `job.status` event of a settled outcome says besides its job."""
    fields: dict[str, Any] = {"status": outcome.status}
    if outcome.error is not None:
        fields["error"] = outcome.error
    if outcome.status == "queued":
        fields["run_after"] = outcome.run_after or now
    return fields


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
