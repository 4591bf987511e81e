"""An attempt: the job a worker claimed (`ClaimedJob`) and how it ended (`Outcome`), with the
rules that turn a handler's ending into one (retries with backoff, a refusal of the
database's, a failure).

The worker pool decides; the queue writes (`JobQueue.settle`), in one transaction per batch,
together with whatever must commit with the outcome (`also_write`).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from enttok import clock
from enttok.errors import RetryableError
from enttok.store_faults import StoreUnavailable

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
STORE_RETRY_DELAY = 5.0
"""An attempt the database refused (a full disk, a held lock) runs again after about this
long, its attempt given back: the fault is the host's, not the job's."""

AlsoWrite = Callable[[sqlite3.Connection], list[dict[str, Any]]]
"""A write made in the transaction that settles an outcome; the events it recorded."""


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
    also_write: AlsoWrite | None = None
    """A write that belongs with this outcome (its account's last sync, the `ratelimit`
    event of a job queued again), made in the transaction that settles it: the two commit
    together or wait together. It returns the events it recorded, published with the job's.
    One that fails on its own SQL is rolled back alone and logged, so it can never hold up
    the queue."""


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: the server's word when it gave one, else exponential
    with jitter (half to full), so retries of many jobs do not arrive together."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def both(first: AlsoWrite | None, then: AlsoWrite) -> AlsoWrite:
    """One `also_write` that makes `first` (if any), then `then`."""
    if first is None:
        return then
    return lambda tx: first(tx) + then(tx)


def error_body(code: str, message: str, retryable: bool) -> dict[str, Any]:
    return {"code": code, "message": message, "retryable": retryable}


def failed(job: ClaimedJob, code: str, message: str) -> Outcome:
    return Outcome(job.job_id, "failed", error=error_body(code, message, False))


def store_refused(job: ClaimedJob, error: StoreUnavailable) -> Outcome:
    """The handler's own write was refused (a full disk, a lock held past its wait): queued
    again with its attempt given back, unless the database is gone for good."""
    if error.fatal:
        return failed(job, error.code, str(error))
    delay = STORE_RETRY_DELAY * random.uniform(0.5, 1.0)
    return Outcome(
        job.job_id,
        "queued",
        error=error_body(error.code, str(error), True),
        run_after=clock.iso_in(delay),
        refund_attempt=True,
    )


def retry_or_fail(job: ClaimedJob, error: RetryableError) -> Outcome:
    if job.attempt >= job.max_attempts:
        return Outcome(job.job_id, "failed", error=error_body(error.code, error.message, True))
    delay = backoff(job.attempt, error.retry_after)
    return Outcome(
        job.job_id, "queued", error=error_body(error.code, error.message, True), run_after=clock.iso_in(delay)
    )


def jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    json.dumps(result)  # a result that cannot be stored fails the attempt here, not later
    return result
