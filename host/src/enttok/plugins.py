"""Finding plugins and asking them what they declare, one plugin at a time, so that one
that fails to import or whose hook raises is recorded as `failed` while the rest load.

Plugins come from the entry-point group `enttok`, plus modules named in
`ENTTOK_PLUGIN_MODULES` (`name=module,...`, for tests and local development), minus what
`ENTTOK_PLUGINS_DENY` names, and only what `ENTTOK_PLUGINS_ALLOW` names when it is set.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel
from starlette.routing import BaseRoute

from enttok import PLUGIN_API_VERSION, hookspecs
from enttok.declarations import JobType, Migration, Schedule
from enttok.markers import PROJECT_NAME

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "enttok"
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]*")
JOB_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


@dataclass
class PluginRecord:
    name: str
    version: str | None = None
    module: ModuleType | object | None = None
    error: str | None = None
    job_types: list[JobType] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    settings_model: type[BaseModel] | None = None
    account_model: type[BaseModel] | None = None

    @property
    def state(self) -> str:
        return "failed" if self.error else "loaded"

    def fail(self, error: str) -> None:
        self.error = self.error or error
        log.error("plugin %s failed: %s", self.name, error)


@dataclass(frozen=True)
class PluginSource:
    """A plugin to load: a module path (imported here, failures recorded) or an object."""

    name: str
    target: str | object
    version: str | None = None


def discover(environ: Mapping[str, str]) -> list[PluginSource]:
    sources = [
        PluginSource(entry.name, entry.value, entry.dist.version if entry.dist else None)
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    ]
    for item in filter(None, environ.get("ENTTOK_PLUGIN_MODULES", "").split(",")):
        name, _, module = item.strip().partition("=")
        sources.append(PluginSource(name.strip(), module.strip()))
    allow = _name_set(environ.get("ENTTOK_PLUGINS_ALLOW"))
    deny = _name_set(environ.get("ENTTOK_PLUGINS_DENY")) or set()
    return [s for s in sources if s.name not in deny and (allow is None or s.name in allow)]


def _name_set(value: str | None) -> set[str] | None:
    return None if value is None else {name.strip() for name in value.split(",") if name.strip()}


class Plugins:
    """The loaded plugins and what they declared."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    def load(self, sources: Iterable[PluginSource]) -> None:
        for source in sources:
            record = PluginRecord(source.name, source.version)
            if source.name in self.records:
                log.warning("plugin %s is installed twice; keeping the first", source.name)
                continue
            self.records[source.name] = record
            if not PLUGIN_NAME.fullmatch(source.name):
                record.fail(f"plugin name {source.name!r} must be lower_snake_case")
                continue
            try:
                record.module = _import(source.target)
                self.manager.register(record.module, name=source.name)
            except Exception as error:
                record.fail(f"import failed: {type(error).__name__}: {error}")
                continue
            self._declare(record)

    def _declare(self, record: PluginRecord) -> None:
        try:
            version = self.call(record, "enttok_api_version", PLUGIN_API_VERSION)
            if version != PLUGIN_API_VERSION:
                raise ValueError(
                    f"it targets plugin API version {version}, this host implements {PLUGIN_API_VERSION}"
                )
            record.job_types = list(self.call(record, "enttok_job_types", ()))
            record.schedules = list(self.call(record, "enttok_schedules", ()))
            record.routes = list(self.call(record, "enttok_routes", ()))
            record.migrations = list(self.call(record, "enttok_migrations", ()))
            record.settings_model = self.call(record, "enttok_settings_model", None)
            record.account_model = self.call(record, "enttok_account_model", None)
            _validate(record)
        except Exception as error:
            record.fail(f"{type(error).__name__}: {error}")
            self.unregister(record)

    def implementation(self, record: PluginRecord, hook: str) -> Callable[..., Any] | None:
        """One plugin's implementation of `hook`, or None."""
        for implementation in getattr(self.manager.hook, hook).get_hookimpls():
            if implementation.plugin_name == record.name:
                return implementation.function
        return None

    def call(self, record: PluginRecord, hook: str, default: Any, **kwargs: Any) -> Any:
        """Call one plugin's implementation of `hook`; `default` when it has none."""
        function = self.implementation(record, hook)
        return default if function is None else function(**kwargs)

    def unregister(self, record: PluginRecord) -> None:
        if record.module is not None and self.manager.is_registered(record.module):
            self.manager.unregister(record.module)

    @property
    def loaded(self) -> list[PluginRecord]:
        return [record for record in self.records.values() if record.state == "loaded"]

    @property
    def failed(self) -> list[PluginRecord]:
        return [record for record in self.records.values() if record.state == "failed"]


def _import(target: str | object) -> object:
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def _validate(record: PluginRecord) -> None:
    """Refuse declarations the host could not honour, with the reason a plugin author needs."""
    prefix = f"{record.name}."
    seen: set[str] = set()
    for job_type in record.job_types:
        _require(isinstance(job_type, JobType), f"enttok_job_types returned {job_type!r}, not a JobType")
        _require(
            JOB_NAME.fullmatch(job_type.name) and job_type.name.startswith(prefix),
            f"job type {job_type.name!r} must be named {prefix}<lower_snake_case>",
        )
        _require(job_type.name not in seen, f"job type {job_type.name!r} is declared twice")
        _require(
            isinstance(job_type.payload, type) and issubclass(job_type.payload, BaseModel),
            f"job type {job_type.name!r} has a payload that is not a pydantic model",
        )
        _require(job_type.max_attempts >= 1, f"job type {job_type.name!r} needs max_attempts >= 1")
        seen.add(job_type.name)
    for schedule in record.schedules:
        _require(isinstance(schedule, Schedule), f"enttok_schedules returned {schedule!r}, not a Schedule")
        _require(
            schedule.job_type in seen or schedule.job_type.startswith(prefix),
            f"schedule {schedule.id!r} runs {schedule.job_type!r}, which this plugin does not declare",
        )
    for migration in record.migrations:
        _require(
            isinstance(migration, Migration), f"enttok_migrations returned {migration!r}, not a Migration"
        )
    for route in record.routes:
        _require(isinstance(route, BaseRoute), f"enttok_routes returned {route!r}, not a Starlette route")
    for hook, model in (
        ("enttok_settings_model", record.settings_model),
        ("enttok_account_model", record.account_model),
    ):
        _require(
            model is None or (isinstance(model, type) and issubclass(model, BaseModel)),
            f"{hook} returned something that is not a pydantic model class",
        )


def _require(condition: object, reason: str) -> None:
    if not condition:
        raise ValueError(reason)


def call_each(
    records: Sequence[PluginRecord], action: Callable[[PluginRecord], object], what: str
) -> list[tuple[PluginRecord, object]]:
    """Run `action` for each loaded plugin; one that raises is marked failed, not fatal."""
    results = []
    for record in records:
        if record.state != "loaded":
            continue
        try:
            results.append((record, action(record)))
        except Exception as error:
            record.fail(f"{what} failed: {type(error).__name__}: {error}")
    return results
