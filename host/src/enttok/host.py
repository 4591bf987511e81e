"""`Host`: the one object that owns the database, the queue, the workers, the scheduler and
the plugins, and starts and stops them in order.

`open()` runs before the server binds (lock, database check, migrations, crash recovery), so
a second host or a corrupt file is refused with a message before anything listens;
`start()`/`stop()` run in the app's lifespan.
"""

from __future__ import annotations

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
from enttok.lock import DataDirLock
from enttok.plugin_host import PluginHost
from enttok.plugins import PluginRecord, Plugins, PluginSource, call_each, discover
from enttok.queue import JobQueue
from enttok.ratelimits import RateLimits
from enttok.scheduler import Scheduler
from enttok.secrets import Secrets
from enttok.settings import Settings
from enttok.store import HOST_MIGRATIONS, HOST_OWNER, Database
from enttok.sync import SyncWriter
from enttok.workers import RegisteredJobType, WorkerPool

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0


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
        self.scheduler = Scheduler(self._enqueue_scheduled)
        self.secrets = Secrets(config.data_dir, config.secret_key)
        self.accounts = Accounts(self.database.connect, self.secrets)
        self.rate_limits = RateLimits()
        self.sync_writer = SyncWriter(self.database.connect)

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
        self.settings = Settings(self.database, models)
        self.queue.max_depth = self.settings.host.max_queue_depth
        for record in self.plugins.loaded:
            if record.account_model is not None:
                self.accounts.register(record.name, record.account_model)
        self.services = HostServices(
            database=self.database,
            accounts=self.accounts,
            rate_limits=self.rate_limits,
            sync_writer=self.sync_writer,
            on_progress=self.queue.report_progress,
            on_log=lambda job_id, level, message, data: self.bus.emit(
                "log", job_id=job_id, level=level, message=message, **data
            ),
        )
        self.job_types = {
            job_type.name: RegisteredJobType(record.name, job_type)
            for record in self.plugins.loaded
            for job_type in record.job_types
        }

    async def start(self) -> None:
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
        self.scheduler.declare(schedules, self.settings.host.schedules)

    async def start_schedules(self) -> None:
        """Called once the host serves: a schedule due at start waits for no one, and the
        first request does not wait for the scheduler. A failure here leaves the host serving,
        without schedules, and says so in the log and in `/status`."""
        try:
            await self.scheduler.start()
        except Exception:
            log.exception("the scheduler failed to start; no schedule will run")

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        self.scheduler.shutdown()
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
        self.scheduler.apply(self.settings.host.schedules)

    def status(self) -> dict[str, Any]:
        active = self.pool.active if self.pool else 0
        size = self.pool.size if self.pool else 0
        return {
            "uptime_sec": round(time.monotonic() - self.started_at, 3),
            "queue_depth": self.queue.depth,
            "workers": {"active": active, "idle": max(0, size - active)},
            "scheduler": self.scheduler.status(),
            "plugins": {
                "loaded": [r.name for r in self.plugins.loaded],
                "failed": [r.name for r in self.plugins.failed],
            },
            "event_subscribers": self.bus.subscriber_count,
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
