"""`JobContext`: what a handler gets besides its payload.

A handler may be a coroutine on the event loop or a blocking function in a worker thread;
every method here works from either. Progress is throttled: a handler may report on every
item and the database and socket still see at most a few updates a second, the last one
always among them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from enttok.accounts import Account, Accounts
from enttok.errors import JobCancelled, RetryableError
from enttok.store import Database, transaction
from enttok.sync import JobPages, Sync, SyncWriter, read_cursor

if TYPE_CHECKING:  # httpx loads on a job's first request, not at start-up
    from datetime import datetime

    import httpx
    import requests

    from enttok.ratelimits import RateLimits
    from enttok.sync import Activity

T = TypeVar("T")

PROGRESS_INTERVAL = 0.25

ProgressSink = Callable[[str, "float | None", "str | None"], None]
LogSink = Callable[[str, str, str, dict[str, Any]], None]
Submit = Callable[..., Awaitable[tuple[dict[str, Any], bool]]]
"""`Host.submit(job_type, payload, dedupe_key=...)`: the stored job, and whether it is new."""


@dataclass(frozen=True)
class HostServices:
    """What the host lends every attempt."""

    database: Database
    accounts: Accounts
    rate_limits: RateLimits
    sync_writer: SyncWriter
    on_progress: ProgressSink
    on_log: LogSink
    submit: Submit | None = None


class JobContext:
    def __init__(
        self,
        *,
        job_id: str,
        job_type: str,
        plugin: str,
        attempt: int,
        max_attempts: int,
        settings: BaseModel | None,
        services: HostServices,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.job_id = job_id
        self.job_type = job_type
        self.plugin = plugin
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.settings: Any = settings
        """The plugin's settings (its `enttok_settings_model`) as they were when the attempt began."""
        self.logger = logging.getLogger(f"enttok.plugins.{plugin}")
        self._services = services
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._cancel_reason: str | None = None
        self._cancelled_async: asyncio.Event | None = None
        """Made by the first `wait_cancelled`: most jobs never wait on it."""
        self._last_report = 0.0
        self._pending: tuple[float | None, str | None] | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._pages: JobPages | None = None

    # -- reporting

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """Report how far the job is (0..1) and/or what it is doing."""
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._on_loop(self._queue_progress, fraction, message)

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        """Add an entry to the job's events (and the event stream)."""
        self.logger.log(logging.getLevelName(level.upper()), "%s: %s", self.job_id, message)
        self._on_loop(self._services.on_log, self.job_id, level, message, data)

    def _queue_progress(self, fraction: float | None, message: str | None) -> None:
        if self._pending is not None:
            previous_fraction, previous_message = self._pending
            fraction = fraction if fraction is not None else previous_fraction
            message = message if message is not None else previous_message
        self._pending = (fraction, message)
        wait = self._last_report + PROGRESS_INTERVAL - self._loop.time()
        if wait <= 0:
            self.flush_progress()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_later(wait, self.flush_progress)

    def flush_progress(self) -> None:
        """Write the last unreported progress now (the pool calls it when the attempt ends)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending is None:
            return
        fraction, message = self._pending
        self._pending = None
        self._last_report = self._loop.time()
        self._services.on_progress(self.job_id, fraction, message)

    def _on_loop(self, function: Callable[..., Any], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            function(*args)
        else:
            self._loop.call_soon_threadsafe(function, *args)

    # -- cancellation

    @property
    def cancelled(self) -> bool:
        return self._cancel_reason is not None

    @property
    def cancel_reason(self) -> str | None:
        """`"user"` when canceled through the API, `"shutdown"` when the host is stopping."""
        return self._cancel_reason

    def check_cancelled(self) -> None:
        """A checkpoint: raises JobCancelled once the job has been canceled."""
        if self._cancel_reason is not None:
            raise JobCancelled(self._cancel_reason)

    async def wait_cancelled(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until the job is canceled (True) or `timeout` seconds pass (False)."""
        if self._cancel_reason is not None:
            return True
        if self._cancelled_async is None:
            self._cancelled_async = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._cancelled_async.wait()
        except TimeoutError:
            return False
        return True

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep` that ends early, raising JobCancelled, when the job is canceled."""
        if await self.wait_cancelled(seconds):
            self.check_cancelled()

    def cancel(self, reason: str) -> None:
        """Called by the host (on the loop) to cancel this attempt."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        if self._cancelled_async is not None:
            self._cancelled_async.set()

    # -- storage

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A connection of the job's own to the host database (autocommit; use `transaction`)."""
        connection = self._services.database.connect()
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside `BEGIN IMMEDIATE`, committed when the block ends without error."""
        with self.db() as connection, transaction(connection) as tx:
            yield tx

    def sync(self, scope: str = "") -> Sync:
        """One page of a sync: its rows, activity entries and next cursor, committed together
        when the block ends (see `enttok.sync`). `scope` is usually the account id.

        `async with` in an async handler: the page commits in the host's writer thread while
        the handler fetches the next one. `with` in a blocking handler: it commits on the spot.
        Once the job is canceled (by the user, or because its account was deleted) a page
        that ends is not committed: the block raises JobCancelled instead."""
        if self._pages is None:
            self._pages = JobPages(self._services.sync_writer)
        return _JobSync(self, self._services.database, scope, self._pages)

    async def wait_synced(self, raise_failure: bool = True) -> None:
        """Wait until every page of this job is committed; raises the error of one that failed.
        The host calls it when the handler returns, before the job can succeed, and (with
        `raise_failure=False`) when an attempt ends any other way: no page outlives it."""
        if self._pages is not None:
            await self._pages.wait(raise_failure)

    def cursor(self, scope: str = "") -> str | None:
        """This plugin's committed sync cursor for `scope`, or None."""
        with self.db() as connection:
            return read_cursor(connection, self.plugin, scope)

    def activity(self, start: datetime, end: datetime, *, source: str | None = None) -> list[Activity]:
        """The shared timeline from `start` (included) to `end` (excluded), oldest first: every
        plugin's entries, or only those of `source`. How a plugin that writes about the day (a
        journal, a summary) reads what the connectors synced; the app's side is
        `GET /activity/events`. Times must be timezone-aware."""
        import json

        from enttok import clock
        from enttok.sync import Activity

        clauses, parameters = ["event_time >= ?", "event_time < ?"], [clock.iso(start), clock.iso(end)]
        if source is not None:
            clauses.append("source = ?")
            parameters.append(source)
        with self.db() as connection:
            rows = connection.execute(
                "SELECT event_id, source, account_id, event_type, event_time, title, description, url,"
                f" actor, raw_json FROM activity_events WHERE {' AND '.join(clauses)}"
                " ORDER BY event_time, event_id",
                parameters,
            ).fetchall()
        return [
            Activity(
                source=row[1],
                account_id=row[2],
                external_id=row[0].removeprefix(f"{row[1]}:{row[2]}:"),
                event_type=row[3],
                event_time=clock.parse(row[4]),
                title=row[5],
                description=row[6],
                url=row[7],
                actor=row[8],
                raw=json.loads(row[9]) if row[9] is not None else None,
            )
            for row in rows
        ]

    # -- accounts and upstreams

    def account(self, account_id: str) -> Account:
        """One of this plugin's accounts, secrets included (raises AccountNotFound)."""
        return self._services.accounts.load(self.plugin, account_id)

    def accounts(self) -> list[Account]:
        """Every account of this plugin, secrets included, ordered by id."""
        return self._services.accounts.load_all(self.plugin)

    async def fan_out_accounts(
        self, payload: Mapping[str, Any] | BaseModel, field: str = "account_id"
    ) -> dict[str, str]:
        """Submit this job's type once per account of the plugin, `payload` with `field` set to
        the account's id: how a job submitted without an account (one schedule) covers every
        account, each account's job retrying, rate-limited and failing on its own.

        Each job carries the dedupe key `<job type>:<account id>`, so an account whose sync
        submitted this way is still queued or running is not given a second one: its live
        job's id is returned instead. Accounts that need to sign in again (`needs_reauth`) are
        skipped until they have. Returns the job id for each account covered, by account id.
        The host knows a sync's account by its payload's `account_id` (last sync, an
        `AuthFailed` without an id): another `field` suits only jobs that are not syncs.

        The jobs are submitted in one turn of the event loop, so the queue stores them in one
        transaction: all or none. When the database refuses it (a write lock held past the
        write timeout, a full disk) the error ends this attempt, which the pool queues again
        with its attempt given back; the next one submits every account afresh, so no
        account's job is lost and none is stored twice.
        """
        from enttok.queue import QueueFull

        submit = self._services.submit
        if submit is None:
            raise RuntimeError("this host lends its jobs no way to submit others")
        values = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else dict(payload)
        statuses = await asyncio.to_thread(self._services.accounts.statuses, self.plugin)
        covered = []
        for account_id, status in statuses.items():
            if status == "needs_reauth":
                self.log(f"skipped account {account_id}: it needs to sign in again", level="warning")
                continue
            covered.append(account_id)
        outcomes = await asyncio.gather(
            *(
                submit(
                    self.job_type, {**values, field: account_id}, dedupe_key=f"{self.job_type}:{account_id}"
                )
                for account_id in covered
            ),
            return_exceptions=True,
        )
        submitted: dict[str, str] = {}
        queue_full = False
        for account_id, outcome in zip(covered, outcomes, strict=True):
            if isinstance(outcome, QueueFull):
                queue_full = True
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                submitted[account_id] = outcome[0]["job_id"]
        if queue_full:
            raise RetryableError(
                "the job queue is full; the remaining accounts are submitted on the next attempt",
                code="queue_full",
            )
        return submitted

    def http(self, provider: str, credential: str, **options: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` sharing the host's rate-limit budget for this credential
        (an account id, never the secret itself). `options` go to the client (base_url, headers...)."""
        from enttok.http import async_client

        return async_client(self._services.rate_limits.budget(provider, credential), **options)

    def http_sync(self, provider: str, credential: str, **options: Any) -> httpx.Client:
        """The same as `http`, for blocking handlers."""
        from enttok.http import sync_client

        return sync_client(self._services.rate_limits.budget(provider, credential), **options)

    def requests_session(self, provider: str, credential: str, **options: Any) -> requests.Session:
        """A `requests.Session` on the same budget, for a blocking SDK built on requests
        (atlassian-python-api): a 429 raises RateLimited rather than sleeping, default
        timeouts, 5xx retried as `http` does. Turn the SDK's own retries off. `options`:
        `retries`, `timeout`, and session attributes (`headers`, `auth`, `verify`)."""
        from enttok.blocking_http import requests_session

        return requests_session(self._services.rate_limits.budget(provider, credential), **options)

    # -- threads

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking code in a worker thread without holding up the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)


class _JobSync(Sync):
    """`ctx.sync()`: a page of this job, dropped when it ends after the job was canceled, so
    a sync whose account was just deleted writes no row for it after the deletion."""

    def __init__(self, context: JobContext, database: Database, scope: str, pages: JobPages) -> None:
        super().__init__(database, context.plugin, scope, pages, job_id=context.job_id)
        self._context = context

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None and self._context.cancelled:
            super().__exit__(JobCancelled, None, None)  # closes its connection, commits nothing
            self._context.check_cancelled()
        super().__exit__(kind, error, trace)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self._context.check_cancelled()
        await super().__aexit__(kind, error, trace)
