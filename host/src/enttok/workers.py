"""The worker pool: one dispatcher task that claims due jobs into free slots and runs each
attempt as a task, then settles how they ended in batches.

Claims and settlements are each one transaction however many jobs they cover, which is what
lets thousands of short jobs a second through one SQLite file.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
import random
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from enttok import clock
from enttok.context import HostServices, JobContext
from enttok.declarations import Handler, JobType
from enttok.errors import AuthFailed, JobCancelled, JobError, RateLimited, RetryableError
from enttok.events import EventBus
from enttok.queue import ClaimedJob, JobQueue, Outcome
from enttok.settings import MAX_WORKERS

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
CANCEL_GRACE = 3.0
"""Seconds an async handler gets to notice a cancel before its task is cancelled."""


@dataclass(frozen=True)
class RegisteredJobType:
    plugin: str
    spec: JobType


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: the server's word when it gave one, else exponential
    with jitter (half to full), so retries of many jobs do not arrive together."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


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
        self._dispatcher: asyncio.Task[None] | None = None

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
        self._settle()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- dispatching

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._wake.clear()
            self._settle()
            free = self.size - len(self._running)
            claimed = self.queue.claim(free, self._room_per_type()) if free > 0 else []
            for job in claimed:
                self._start(job)
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)  # let the started attempts run before claiming more
                continue
            await self._idle()
        self._settle()

    async def _idle(self) -> None:
        timeout = None
        if len(self._running) < self.size and self.queue.depth > 0 and (due := self.queue.next_due()):
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
            self.queue.settle(outcomes)

    def _finish(self, attempt: _Attempt, outcome: Outcome) -> None:
        attempt.context.flush_progress()
        self._running.pop(attempt.job.job_id, None)
        self._outcomes.append(outcome)
        self.wake()

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
            outcome = _failed(attempt.job, "worker_error", f"{type(error).__name__}: {error}")
        try:
            await attempt.context.wait_synced(raise_failure=False)
        finally:
            self._finish(attempt, outcome)

    async def _attempt(self, attempt: _Attempt) -> Outcome:
        job, context = attempt.job, attempt.context
        if attempt.registered is None:
            return _failed(job, "unknown_job_type", f"no loaded plugin runs job type {job.type!r}")
        spec = attempt.registered.spec
        try:
            payload = spec.payload.model_validate(job.payload)
        except ValidationError as error:
            return _failed(job, "invalid_payload", f"the stored payload no longer fits {job.type}: {error}")
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
            return Outcome(job.job_id, "succeeded", result=_jsonable(result))
        except (JobCancelled, asyncio.CancelledError):
            if context.cancel_reason is None:
                raise  # not ours: the task itself is being torn down
            if context.cancel_reason == "shutdown":
                return Outcome(job.job_id, "queued", refund_attempt=True)
            return Outcome(job.job_id, "canceled", error=_error("canceled", "canceled on request", False))
        except TimeoutError:
            if not timer.expired():
                return self._unexpected(job, context)
            context.cancel("timeout")
            return _retry_or_fail(
                job, RetryableError(f"the attempt ran over {spec.timeout:g}s", code="timeout")
            )
        except RateLimited as error:
            return self._rate_limited(job, error)
        except RetryableError as error:
            return _retry_or_fail(job, error)
        except AuthFailed as error:
            self._auth_failed(attempt, error)
            return _failed(job, error.code, error.message)
        except JobError as error:
            return _failed(job, error.code, error.message)
        except Exception:
            return self._unexpected(job, context)

    def _unexpected(self, job: ClaimedJob, context: JobContext) -> Outcome:
        """Anything but a JobError is permanent; its traceback goes to the job's events only."""
        trace = traceback.format_exc()
        summary = trace.strip().splitlines()[-1]
        context.log(f"handler raised {summary}", level="error", traceback=trace)
        return _failed(job, "handler_error", summary)

    def _rate_limited(self, job: ClaimedJob, error: RateLimited) -> Outcome:
        """Back to the queue until the reset, without spending an attempt; the wait is announced."""
        until = clock.iso_in(error.retry_after or 0)
        self._bus.emit(
            "ratelimit",
            job_id=job.job_id,
            message=error.message,
            provider=error.provider,
            credential=error.credential,
            until=until,
        )
        return Outcome(
            job.job_id,
            "queued",
            error=_error(error.code, error.message, True),
            run_after=until,
            refund_attempt=True,
        )

    def _auth_failed(self, attempt: _Attempt, error: AuthFailed) -> None:
        """Mark the account `needs_reauth` and tell the UI; the job itself fails without retries."""
        account_id = error.account_id or attempt.job.payload.get("account_id")
        plugin = attempt.context.plugin
        if account_id and self._services.accounts.set_status(
            plugin, account_id, "needs_reauth", error.message
        ):
            self._bus.emit(
                "account.status",
                job_id=attempt.job.job_id,
                level="warning",
                message=f"{plugin} account {account_id} needs to sign in again",
                plugin=plugin,
                account_id=account_id,
                status="needs_reauth",
            )


def _error(code: str, message: str, retryable: bool) -> dict[str, Any]:
    return {"code": code, "message": message, "retryable": retryable}


def _failed(job: ClaimedJob, code: str, message: str) -> Outcome:
    return Outcome(job.job_id, "failed", error=_error(code, message, False))


def _retry_or_fail(job: ClaimedJob, error: RetryableError) -> Outcome:
    if job.attempt >= job.max_attempts:
        return Outcome(job.job_id, "failed", error=_error(error.code, error.message, True))
    delay = backoff(job.attempt, error.retry_after)
    return Outcome(
        job.job_id, "queued", error=_error(error.code, error.message, True), run_after=clock.iso_in(delay)
    )


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    json.dumps(result)  # a result that cannot be stored fails the attempt here, not later
    return result
