"""The worker pool: one dispatcher task that claims due jobs into free slots and runs each
attempt as a task, then settles how they ended in batches.

Claims and settlements are each one transaction however many jobs they cover, which is what
lets thousands of short jobs a second through one SQLite file.

The dispatcher outlives any failure of those transactions: a write lock held elsewhere, a
full disk, an I/O error. It keeps the outcomes it could not write, waits (backing off), and
tries again; what it could not claim is still `queued`. While it fails for longer than a
request may wait, the host's health says why; a fatal fault (the database file replaced)
stops it claiming for good, which the health says too.

How an attempt's ending becomes an outcome (retries, backoff) is `enttok.outcomes`; what
must commit with an outcome (an account's last sync or `needs_reauth` mark, a `ratelimit`
announcement) rides on it as `also_write`, so a lock held at that moment loses none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import random
import sqlite3
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from enttok import clock
from enttok.accounts import write_status
from enttok.context import HostServices, JobContext
from enttok.declarations import Handler, JobType
from enttok.errors import AuthFailed, JobCancelled, JobError, RateLimited, RetryableError
from enttok.events import EventBus
from enttok.outcomes import (
    AlsoWrite,
    ClaimedJob,
    Outcome,
    both,
    error_body,
    failed,
    jsonable,
    retry_or_fail,
    store_refused,
)
from enttok.queue import JobQueue
from enttok.settings import MAX_WORKERS
from enttok.store import WRITE_TIMEOUT
from enttok.store_faults import DatabaseBusy, StoreUnavailable, busy_delays

log = logging.getLogger(__name__)

CANCEL_GRACE = 3.0
"""Seconds an async handler gets to notice a cancel before its task is cancelled."""
DISPATCH_RETRY_FIRST = 0.05
DISPATCH_RETRY_CAP = 2.0
"""The dispatcher's waits after a claim or settlement failed for any reason but a held lock:
doubling, up to the cap. A held lock is tried again sooner (`store.busy_delays`)."""


@dataclass(frozen=True)
class RegisteredJobType:
    plugin: str
    spec: JobType


class _Attempt:
    __slots__ = ("context", "job", "registered", "task")

    def __init__(self, job: ClaimedJob, registered: RegisteredJobType | None, context: JobContext) -> None:
        self.job = job
        self.registered = registered
        self.context = context
        self.task: asyncio.Task[None] | None = None


class WorkerPool:
    def __init__(
        self,
        *,
        queue: JobQueue,
        bus: EventBus,
        services: HostServices,
        job_types: Mapping[str, RegisteredJobType],
        settings_of: Callable[[str], BaseModel | None],
        size: int,
    ) -> None:
        self.queue = queue
        self.size = size
        self._bus = bus
        self._services = services
        self._job_types = job_types
        self._settings_of = settings_of
        self._handlers: dict[str, Handler] = {}
        self._running: dict[str, _Attempt] = {}
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        # Blocking handlers get a thread each, up to the largest pool the settings allow;
        # asyncio's default executor (a handful of threads) would queue them behind each other.
        self._threads = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="enttok-job")
        self._stopping = False
        self._stopped = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._health = services.database.health

    @property
    def active(self) -> int:
        return len(self._running)

    def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="enttok-dispatcher")

    def wake(self) -> None:
        """Something changed (a job submitted or finished): look for work now."""
        self._wake.set()

    def request_cancel(self, job_id: str) -> bool:
        attempt = self._running.get(job_id)
        if attempt is None:
            return False
        attempt.context.cancel("user")
        task = attempt.task
        if task is not None and attempt.registered and inspect.iscoroutinefunction(self._handler_of(attempt)):
            asyncio.get_running_loop().call_later(CANCEL_GRACE, task.cancel)
        return True

    async def stop(self, grace: float) -> None:
        """Stop claiming; cancel running attempts and give them `grace` seconds to end. What
        has not ended by then is queued again (its attempt given back) for the next start."""
        self._stopping = True
        self._stopped.set()
        self.wake()
        if self._dispatcher is not None:
            await self._dispatcher
        for attempt in self._running.values():
            attempt.context.cancel("shutdown")
        tasks = [attempt.task for attempt in self._running.values() if attempt.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for job_id in list(self._running):
            self._outcomes.append(Outcome(job_id, "queued", refund_attempt=True))
            self._running.pop(job_id)
        try:
            self._settle()
        except StoreUnavailable as error:  # they are still `running`: the next start re-queues them
            log.warning("at stop, %d outcomes not written: %s", len(self._outcomes), error)
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- dispatching

    async def _dispatch(self) -> None:
        failing_since: float | None = None
        delay = DISPATCH_RETRY_FIRST
        lock_waits = busy_delays()
        while not self._stopping:
            if self._health.fatal is not None:
                log.error("the dispatcher stops claiming: %s", self._health.fatal.message)
                await self._stopped.wait()
                break
            self._wake.clear()
            try:
                claimed, free = self._claim_round()
            except Exception as error:
                failing_since = failing_since or asyncio.get_running_loop().time()
                self._failed_round(error, asyncio.get_running_loop().time() - failing_since)
                if isinstance(error, DatabaseBusy):  # contention: another commit ends soon
                    wait = next(lock_waits)
                else:
                    wait, delay = delay * random.uniform(0.5, 1.0), min(delay * 2, DISPATCH_RETRY_CAP)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._stopped.wait()
                continue
            if failing_since is not None:
                failing_since, delay, lock_waits = None, DISPATCH_RETRY_FIRST, busy_delays()
                self._health.clear("dispatcher")
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)  # let the started attempts run before claiming more
                continue
            await self._idle()
        with contextlib.suppress(StoreUnavailable):  # stop() tries once more
            self._settle()

    def _claim_round(self) -> tuple[list[ClaimedJob], int]:
        """Settle what ended, claim into the free slots, start what was claimed."""
        self._settle()
        free = self.size - len(self._running)
        claimed = self.queue.claim(free, self._room_per_type()) if free > 0 else []
        for job in claimed:
            self._start(job)
        return claimed, free

    def _failed_round(self, error: Exception, failing_for: float) -> None:
        """Say why the dispatcher cannot go on: a held lock only once it outlasts what a
        request would wait (before that it is ordinary contention), anything else at once."""
        if isinstance(error, DatabaseBusy):
            if failing_for >= WRITE_TIMEOUT:
                self._health.report("dispatcher", error.code, f"the queue is stalled: {error}")
        elif isinstance(error, StoreUnavailable):
            self._health.report("dispatcher", error.code, f"the queue is stalled: {error}", fatal=error.fatal)
        else:
            log.exception("the dispatcher failed; it tries again")
            self._health.report(
                "dispatcher", "dispatcher_error", f"the queue is stalled by {type(error).__name__}: {error}"
            )

    async def _idle(self) -> None:
        timeout = None
        if len(self._running) < self.size and self.queue.depth > 0:
            try:
                due = self.queue.next_due()
            except sqlite3.Error:  # look again soon; the next round reports it if it lasts
                due = clock.iso_in(DISPATCH_RETRY_CAP)
            if due:
                timeout = max(0.0, (clock.parse(due) - clock.now()).total_seconds()) + 0.001
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _room_per_type(self) -> dict[str, int]:
        """How many more jobs of each concurrency-limited type may start now."""
        running = Counter(attempt.job.type for attempt in self._running.values())
        return {
            name: registered.spec.concurrency - running[name]
            for name, registered in self._job_types.items()
            if registered.spec.concurrency is not None
        }

    def _start(self, job: ClaimedJob) -> None:
        registered = self._job_types.get(job.type)
        context = JobContext(
            job_id=job.job_id,
            job_type=job.type,
            plugin=registered.plugin if registered else "",
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            settings=self._settings_of(registered.plugin) if registered else None,
            services=self._services,
            loop=asyncio.get_running_loop(),
        )
        attempt = _Attempt(job, registered, context)
        self._running[job.job_id] = attempt
        attempt.task = asyncio.create_task(self._run(attempt), name=f"job {job.job_id}")

    def _settle(self) -> None:
        if self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            try:
                self.queue.settle(outcomes)
            except BaseException:
                self._outcomes[:0] = outcomes  # kept, in order, for the next try
                raise

    def _finish(self, attempt: _Attempt, outcome: Outcome) -> None:
        attempt.context.flush_progress()
        self._running.pop(attempt.job.job_id, None)
        self._outcomes.append(self._with_sync_record(attempt, outcome))
        self.wake()

    def _with_sync_record(self, attempt: _Attempt, outcome: Outcome) -> Outcome:
        """A final outcome of a sync carries its account's last sync (`Accounts.sync_record`),
        written in the transaction that settles the job: the job and the record commit
        together, and a write lock held meanwhile delays both, losing neither."""
        if outcome.status == "queued" or attempt.registered is None:
            return outcome
        record = self._services.accounts.sync_record(
            attempt.context.plugin,
            (attempt.job.job_id, attempt.job.payload),
            outcome.status,
            outcome.error,
            committed=attempt.context._pages is not None,
        )
        if record is None:
            return outcome
        return dataclasses.replace(outcome, also_write=both(outcome.also_write, record))

    # -- one attempt

    def _handler_of(self, attempt: _Attempt) -> Handler:
        name = attempt.job.type
        if name not in self._handlers:
            self._handlers[name] = attempt.registered.spec.resolve_handler()
        return self._handlers[name]

    async def _run(self, attempt: _Attempt) -> None:
        try:
            outcome = await self._attempt(attempt)
        except Exception as error:  # the pool itself must survive whatever a handler does
            log.exception("job %s: unexpected failure in the worker", attempt.job.job_id)
            outcome = failed(attempt.job, "worker_error", f"{type(error).__name__}: {error}")
        try:
            await attempt.context.wait_synced(raise_failure=False)
        finally:
            self._finish(attempt, outcome)

    async def _attempt(self, attempt: _Attempt) -> Outcome:
        job, context = attempt.job, attempt.context
        if attempt.registered is None:
            return failed(job, "unknown_job_type", f"no loaded plugin runs job type {job.type!r}")
        spec = attempt.registered.spec
        try:
            payload = spec.payload.model_validate(job.payload)
        except ValidationError as error:
            return failed(job, "invalid_payload", f"the stored payload no longer fits {job.type}: {error}")
        timer = asyncio.timeout(spec.timeout)
        try:
            handler = self._handler_of(attempt)
            async with timer:
                if inspect.iscoroutinefunction(handler):
                    result = await handler(context, payload)
                else:
                    call = functools.partial(contextvars.copy_context().run, handler, context, payload)
                    result = await asyncio.get_running_loop().run_in_executor(self._threads, call)
                await context.wait_synced()
            return Outcome(job.job_id, "succeeded", result=jsonable(result))
        except (JobCancelled, asyncio.CancelledError):
            if context.cancel_reason is None:
                raise  # not ours: the task itself is being torn down
            if context.cancel_reason == "shutdown":
                return Outcome(job.job_id, "queued", refund_attempt=True)
            return Outcome(job.job_id, "canceled", error=error_body("canceled", "canceled on request", False))
        except TimeoutError:
            if not timer.expired():
                return self._unexpected(job, context)
            context.cancel("timeout")
            return retry_or_fail(
                job, RetryableError(f"the attempt ran over {spec.timeout:g}s", code="timeout")
            )
        except RateLimited as error:
            return self._rate_limited(job, error)
        except RetryableError as error:
            return retry_or_fail(job, error)
        except AuthFailed as error:
            refused = failed(job, error.code, error.message)
            return dataclasses.replace(refused, also_write=self._needs_reauth(attempt, error))
        except JobError as error:
            return failed(job, error.code, error.message)
        except StoreUnavailable as error:
            return store_refused(job, error)
        except Exception:
            return self._unexpected(job, context)

    def _unexpected(self, job: ClaimedJob, context: JobContext) -> Outcome:
        """Anything but a JobError is permanent; its traceback goes to the job's events only."""
        trace = traceback.format_exc()
        summary = trace.strip().splitlines()[-1]
        context.log(f"handler raised {summary}", level="error", traceback=trace)
        return failed(job, "handler_error", summary)

    def _rate_limited(self, job: ClaimedJob, error: RateLimited) -> Outcome:
        """Back to the queue until the reset, without spending an attempt. The wait is
        announced (a `ratelimit` event) in the transaction that queues the job again, so the
        announcement is never lost to a write lock held at that moment: it waits with it. The
        budget is closed too, for a limit the handler learned without `ctx.http`, so the other
        jobs of that credential wait as well."""
        until = clock.iso_in(error.retry_after or 0)
        self._services.rate_limits.budget(error.provider, error.credential).close_for(error.retry_after or 0)

        def announce(tx: sqlite3.Connection) -> list[dict[str, Any]]:
            fields = {"provider": error.provider, "credential": error.credential, "until": until}
            return [self._bus.record(tx, "ratelimit", job_id=job.job_id, message=error.message, **fields)]

        return Outcome(
            job.job_id,
            "queued",
            error=error_body(error.code, error.message, True),
            run_after=until,
            refund_attempt=True,
            also_write=announce,
        )

    def _needs_reauth(self, attempt: _Attempt, error: AuthFailed) -> AlsoWrite | None:
        """The account marked `needs_reauth`, with an `account.status` event for the UI, in
        the transaction that fails the job (which fails without retries)."""
        account_id = error.account_id or attempt.job.payload.get("account_id")
        plugin = attempt.context.plugin
        if not isinstance(account_id, str):
            return None

        def mark(tx: sqlite3.Connection) -> list[dict[str, Any]]:
            if not write_status(tx, plugin, account_id, "needs_reauth", error.message):
                return []
            event = self._bus.record(
                tx,
                "account.status",
                job_id=attempt.job.job_id,
                level="warning",
                message=f"{plugin} account {account_id} needs to sign in again",
                plugin=plugin,
                account_id=account_id,
                status="needs_reauth",
            )
            return [event]

        return mark
