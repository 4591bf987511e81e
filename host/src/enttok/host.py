"""`Host`: the one object that owns the database, the queue, the workers, the scheduler and
the plugins, and starts and stops them in order.

`open()` runs before the server binds (lock, database check, migrations, crash recovery), so
a second host or a corrupt file is refused with a message before anything listens;
`start()`/`stop()` run in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from enttok import __version__, maintenance
from enttok.accounts import Accounts
from enttok.config import RuntimeConfig
from enttok.context import HostServices
from enttok.events import EventBus
from enttok.exits import FOR_FAULT, Exit
from enttok.lock import DataDirLock
from enttok.plugin_host import PluginHost
from enttok.plugins import PluginRecord, Plugins, PluginSource, call_each, discover
from enttok.progress import ProgressWriter
from enttok.queue import JobQueue
from enttok.ratelimits import RateLimits
from enttok.scheduler import Scheduler
from enttok.secrets import Secrets
from enttok.settings import Settings
from enttok.store import HOST_MIGRATIONS, HOST_OWNER, Database, transaction
from enttok.store_faults import DatabaseReplaced, StoreUnavailable
from enttok.sync import SyncWriter
from enttok.workers import RegisteredJobType, WorkerPool

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
SCHEDULER_START_DELAY = 0.5
"""Seconds between the ready line and loading APScheduler. Its imports (about 90 million
instructions, some 25 times what the first job's request costs) run in a thread, but
they hold the GIL: started at once, they delay the requests an app sends as soon as
the host is ready, by up to the interpreter's 5 ms switch interval each time a request
needs the GIL back. Half a second later those requests are answered."""
WATCH_INTERVAL = 1.0
"""How often the host checks its database file is still the one it opened, and retries a
write that failed, so a fault shows and clears without waiting for the next request."""


class UnknownJobType(LookupError):
    pass


class Host:
    def __init__(self, config: RuntimeConfig, sources: Sequence[PluginSource] | None = None) -> None:
        self.config = config
        self.started_at = time.monotonic()
        self.plugins = Plugins()
        self.plugins.load(
            [PluginSource(maintenance.NAME, maintenance, __version__), *(sources or discover(config.environ))]
        )
        self.database = Database(config.database_path)
        self._lock = DataDirLock(config.database_path.parent / "host.lock")
        self.job_types: dict[str, RegisteredJobType] = {}
        self._plugin_hosts: dict[str, PluginHost] = {}
        self.pool: WorkerPool | None = None
        self.scheduler = Scheduler(
            self._enqueue_scheduled, account_missing=lambda p, a: self.accounts.missing(p, a)
        )
        self.secrets = Secrets(config.data_dir, config.secret_key)
        self.accounts = Accounts(self.database.connect, self.secrets)
        self.rate_limits = RateLimits()
        self.sync_writer = SyncWriter(self.database.connect)
        self.health = self.database.health
        self._health_announced = True
        self._watch: asyncio.Task[None] | None = None

    # -- start and stop

    def open(self) -> None:
        self._lock.acquire()
        try:
            self.database.open()
            self.database.migrate(HOST_OWNER, HOST_MIGRATIONS)
        except BaseException:
            self._lock.release()
            raise
        call_each(
            self.plugins.loaded,
            lambda r: self.database.migrate(r.name, r.migrations, table_prefix=f"{r.name}_"),
            "migration",
        )
        for record in self.plugins.failed:
            self.plugins.unregister(record)
        self.bus = EventBus(self.database)
        self.queue = JobQueue(self.database, self.bus, max_depth=1)
        requeued, failed = self.queue.recover()
        if requeued or failed:
            log.warning(
                "recovered jobs left running by the last host: %d queued again, %d failed", requeued, failed
            )
        models = {r.name: r.settings_model for r in self.plugins.loaded if r.settings_model is not None}
        schedules = {f"{r.name}.{s.id}": s for r in self.plugins.loaded for s in r.schedules}
        self.settings = Settings(self.database, models, schedules)
        self.queue.max_depth = self.settings.host.max_queue_depth
        for record in self.plugins.loaded:
            if record.account_model is not None:
                self.accounts.register(record.name, record.account_model)
        self.services = HostServices(
            database=self.database,
            accounts=self.accounts,
            rate_limits=self.rate_limits,
            sync_writer=self.sync_writer,
            on_progress=ProgressWriter(self.database, self.bus).report,
            on_log=self._job_log,
            submit=self.submit,
        )
        self.job_types = {
            job_type.name: RegisteredJobType(record.name, job_type)
            for record in self.plugins.loaded
            for job_type in record.job_types
        }

    async def start(self) -> None:
        self.database.wait_briefly_for_locks()
        self.health.on_change = lambda: asyncio.get_running_loop().call_soon(self._announce_health)
        self._watch = asyncio.create_task(self._watch_database(), name="enttok-watch")
        self.pool = WorkerPool(
            queue=self.queue,
            bus=self.bus,
            services=self.services,
            job_types=self.job_types,
            settings_of=lambda name: self.settings.plugins.get(name),
            size=self.settings.host.workers,
        )
        self.pool.start()
        self.queue.on_committed = self.pool.wake
        for record, result in call_each(self.plugins.loaded, self._startup_hook("enttok_startup"), "startup"):
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception as error:
                    record.fail(f"startup failed: {type(error).__name__}: {error}")
        self._drop_failed_job_types()
        schedules = [(r.name, s) for r in self.plugins.loaded for s in r.schedules]
        self.scheduler.declare(schedules, self.settings.host.schedules, self.settings.host.schedule_intervals)

    async def start_schedules(self) -> None:
        """Called once the host serves, and run SCHEDULER_START_DELAY later: a schedule due
        at start waits that long, and the first requests do not wait for the scheduler. A
        failure here leaves the host serving, without schedules, and says so in the log and
        in `/status`."""
        await asyncio.sleep(SCHEDULER_START_DELAY)
        try:
            await self.scheduler.start()
        except Exception:
            log.exception("the scheduler failed to start; no schedule will run")

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        self.scheduler.shutdown()
        if self._watch is not None:
            self._watch.cancel()
        if self.pool is not None:
            await self.pool.stop(grace)
        for record, result in call_each(
            self.plugins.loaded, self._startup_hook("enttok_shutdown"), "shutdown"
        ):
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception:
                    log.exception("plugin %s: shutdown failed", record.name)

    def close(self) -> None:
        self.sync_writer.close()
        self.database.close()
        self._lock.release()

    def exit_code(self) -> Exit:
        """What the process should exit with once stopped: OK, or the fault still shown."""
        fault = self.health.fault
        if fault is None:
            return Exit.OK
        if fault.code == "dispatcher_error":
            return Exit.UNEXPECTED
        return FOR_FAULT.get(fault.code, Exit.DATABASE_FAILED)

    # -- health

    async def _watch_database(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                self.database.check_identity()
            except DatabaseReplaced as error:
                self.health.report("store", error.code, str(error), fatal=True)
            if self.health.status == "degraded":
                with contextlib.suppress(StoreUnavailable):
                    self.database.probe_write()  # clears the store's fault once writes work
            if not self._health_announced:
                self._announce_health()

    def _announce_health(self) -> None:
        """A `host.health` event with the status and fault now. When the database refuses
        it, the watch tries again; a fatal fault's event goes to the old file (refused by the
        store, which takes no more work), which still gives it a seq for the live stream."""
        view = self.health.view()
        fault = view["fault"]
        level = {"ok": "info", "degraded": "warning", "error": "error"}[view["status"]]
        message = fault["message"] if fault else "the host is healthy again"
        try:
            if self.health.fatal is not None:
                with transaction(self.database.connection) as tx:
                    event = self.bus.record(tx, "host.health", level=level, message=message, **view)
                self.bus.publish([event])
            else:
                self.bus.emit("host.health", level=level, message=message, **view)
        except StoreUnavailable:  # the app hears it now all the same; the watch stores it later
            self.bus.broadcast("host.health", level=level, message=message, **view)
            self._health_announced = False
            return
        self._health_announced = True

    def _job_log(self, job_id: str, level: str, message: str, data: dict[str, Any]) -> None:
        """A handler's `ctx.log`: into the job's events, or only the log file when the
        database refuses it (a log line must not fail the job)."""
        try:
            self.bus.emit("log", job_id=job_id, level=level, message=message, **data)
        except StoreUnavailable as error:
            log.debug("job %s log entry not stored (%s): %s", job_id, error.code, message)

    def _startup_hook(self, hook: str) -> Any:
        return lambda record: self.plugins.call(record, hook, None, host=self.plugin_host(record.name))

    def _drop_failed_job_types(self) -> None:
        failed = {record.name for record in self.plugins.failed}
        for name in [n for n, registered in self.job_types.items() if registered.plugin in failed]:
            del self.job_types[name]

    # -- what the API and plugins call

    def plugin_host(self, name: str) -> PluginHost:
        if name not in self._plugin_hosts:
            self._plugin_hosts[name] = PluginHost(self, name)
        return self._plugin_hosts[name]

    async def submit(
        self,
        job_type: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        run_after: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Validate and enqueue; raises UnknownJobType, pydantic's ValidationError or QueueFull."""
        registered = self.job_types.get(job_type)
        if registered is None:
            raise UnknownJobType(job_type)
        spec = registered.spec
        validated = spec.payload.model_validate(payload).model_dump(mode="json")
        return await self.queue.submit(
            job_type, validated, max_attempts=spec.max_attempts, dedupe_key=dedupe_key, run_after=run_after
        )

    async def _enqueue_scheduled(self, job_type: str, payload: dict[str, Any], dedupe_key: str) -> None:
        await self.submit(job_type, payload, dedupe_key=dedupe_key)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued job at once or ask a running one to stop; the job afterwards."""
        if self.queue.cancel_queued(job_id) == "running" and self.pool is not None:
            self.pool.request_cancel(job_id)
        return self.queue.get(job_id)

    def update_settings(self, changes: dict[str, Any]) -> None:
        self.settings.update(changes)
        self.queue.max_depth = self.settings.host.max_queue_depth
        if self.pool is not None:
            self.pool.size = self.settings.host.workers
            self.pool.wake()
        self.scheduler.apply(self.settings.host.schedules, self.settings.host.schedule_intervals)

    def status(self) -> dict[str, Any]:
        active = self.pool.active if self.pool else 0
        size = self.pool.size if self.pool else 0
        return {
            "health": self.health.view(),
            "uptime_sec": round(time.monotonic() - self.started_at, 3),
            "queue_depth": self.queue.depth,
            "workers": {"active": active, "idle": max(0, size - active)},
            "scheduler": self.scheduler.status(),
            "plugins": {
                "loaded": [r.name for r in self.plugins.loaded],
                "failed": [r.name for r in self.plugins.failed],
            },
            "event_subscribers": self.bus.subscriber_count,
            "secrets": self.secrets.status(),
        }

    def describe_plugin(self, record: PluginRecord) -> dict[str, Any]:
        settings_model: type[BaseModel] | None = record.settings_model
        return {
            "name": record.name,
            "version": record.version,
            "state": record.state,
            "error": record.error,
            "job_types": [
                {
                    "name": job_type.name,
                    "description": job_type.description,
                    "max_attempts": job_type.max_attempts,
                    "timeout": job_type.timeout,
                    "concurrency": job_type.concurrency,
                    "payload_schema": job_type.payload_schema(),
                }
                for job_type in record.job_types
            ],
            "schedules": [
                {
                    "id": f"{record.name}.{schedule.id}",
                    "job_type": schedule.job_type,
                    "interval": schedule.interval,
                    "cron": schedule.cron,
                    "enabled_by_default": schedule.enabled,
                    "payload": dict(schedule.payload),
                }
                for schedule in record.schedules
            ],
            "routes": [f"/plugins/{record.name}{getattr(route, 'path', '')}" for route in record.routes],
            "settings_schema": settings_model.model_json_schema() if settings_model else None,
            "account_schema": record.account_model.model_json_schema() if record.account_model else None,
        }
