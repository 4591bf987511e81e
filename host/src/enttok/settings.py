"""Host and per-plugin settings: pydantic models, stored as JSON in the `settings` table.

Settings are validated whole before anything is written, so a bad field leaves every
stored value as it was. Secrets do not belong here (they go through accounts and the
keyring); a `SecretStr` field is shown only as whether it is set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from enttok import clock
from enttok.declarations import Schedule
from enttok.store import Database

HOST_KEY = "host"
MAX_WORKERS = 64
MIN_SCHEDULE_INTERVAL = 60
"""Seconds: a connector's schedule more often than this only spends its rate limit."""
MAX_SCHEDULE_INTERVAL = 7 * 86400


class HostSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    workers: int = Field(
        16,
        ge=1,
        le=MAX_WORKERS,
        description="Jobs that may run at once (connector jobs mostly wait on the network; limit "
        "a type with its own concurrency).",
    )
    max_queue_depth: int = Field(
        10_000, ge=1, le=1_000_000, description="Queued jobs beyond which POST /jobs answers 429."
    )
    schedules: dict[str, bool] = Field(
        default_factory=dict, description='Switch schedules on or off: {"<plugin>.<schedule id>": bool}.'
    )
    schedule_intervals: dict[
        str, Annotated[int, Field(ge=MIN_SCHEDULE_INTERVAL, le=MAX_SCHEDULE_INTERVAL)]
    ] = Field(
        default_factory=dict,
        description="Run an interval schedule every so many seconds instead of its declared interval: "
        '{"<plugin>.<schedule id>": seconds}, from 60 to 7 days.',
    )


class SettingsError(ValueError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


class _StoredPluginSettings(Mapping[str, BaseModel]):
    """Each plugin's stored settings, validated by its model when first read, not at start:
    building a model's validator is most of what a plugin costs the host's start."""

    def __init__(self, models: Mapping[str, type[BaseModel]], stored: Mapping[str, Any]) -> None:
        self._models = models
        self._stored = stored
        self._read: dict[str, BaseModel] = {}

    def __getitem__(self, name: str) -> BaseModel:
        if name not in self._read:
            model = self._models[name]
            try:
                self._read[name] = model.model_validate(self._stored.get(f"plugin:{name}", {}))
            except ValidationError:
                self._read[name] = model()  # a plugin upgrade may have changed the model
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


class Settings:
    def __init__(
        self,
        database: Database,
        plugin_models: Mapping[str, type[BaseModel]],
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        """`schedules`, every declared schedule by `<plugin>.<id>`, are the only keys a change
        may switch, and those with an interval the only ones it may re-time (None: any, for
        callers that know no schedules)."""
        self._database = database
        self._models = dict(plugin_models)
        self._schedules = None if schedules is None else dict(schedules)
        stored = {
            row[0]: json.loads(row[1])
            for row in database.connection.execute("SELECT key, value_json FROM settings")
        }
        self.host = HostSettings.model_validate(stored.get(HOST_KEY, {}))
        self.plugins: Mapping[str, BaseModel] = _StoredPluginSettings(self._models, stored)

    def public(self) -> dict[str, Any]:
        return {
            "host": _public(self.host),
            "plugins": {name: _public(value) for name, value in self.plugins.items()},
        }

    def update(self, changes: Mapping[str, Any]) -> None:
        """Merge `{"host": {...}, "plugins": {name: {...}}}` into the current settings."""
        errors: list[dict[str, Any]] = []
        unknown = set(changes) - {"host", "plugins"}
        errors += [
            {"loc": (key,), "msg": "unknown settings section", "type": "extra_forbidden"} for key in unknown
        ]
        errors += self._unknown_schedules(changes.get("host"))
        host = _merged(HostSettings, self.host, changes.get("host"), ("host",), errors)
        plugin_changes = changes.get("plugins") or {}
        plugins = dict(self.plugins)
        if not isinstance(plugin_changes, Mapping):
            errors.append({"loc": ("plugins",), "msg": "must be an object", "type": "dict_type"})
            plugin_changes = {}
        for name, values in plugin_changes.items():
            if name not in self._models:
                errors.append({"loc": ("plugins", name), "msg": "no loaded plugin has settings by this name"})
                continue
            plugins[name] = _merged(self._models[name], plugins[name], values, ("plugins", name), errors)
        if errors:
            raise SettingsError(errors)
        now = clock.now_iso()
        rows = [(HOST_KEY, host.model_dump_json(), now)]
        rows += [(f"plugin:{name}", value.model_dump_json(), now) for name, value in plugins.items()]
        with self._database.transaction() as tx:
            tx.executemany(
                "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
                rows,
            )
        self.host, self.plugins = host, plugins

    def _unknown_schedules(self, host_changes: Any) -> list[dict[str, Any]]:
        """A switch or an interval for a schedule no plugin declares would be stored and never
        act; an interval for a cron schedule would be ignored."""
        if self._schedules is None or not isinstance(host_changes, Mapping):
            return []
        errors = []
        for field, needs_interval in (("schedules", False), ("schedule_intervals", True)):
            keys = host_changes.get(field)
            for key in keys if isinstance(keys, Mapping) else ():
                schedule = self._schedules.get(key)
                if schedule is None:
                    message, kind = (
                        "no loaded plugin declares this schedule; see GET /plugins",
                        "unknown_schedule",
                    )
                elif needs_interval and schedule.interval is None:
                    message, kind = "this schedule runs on a cron, not an interval", "cron_schedule"
                else:
                    continue
                errors.append({"loc": ("host", field, key), "msg": message, "type": kind})
        return errors


def _merged(
    model: type[BaseModel],
    current: BaseModel,
    changes: Any,
    loc: tuple[str, ...],
    errors: list[dict[str, Any]],
) -> Any:
    if changes is None:
        return current
    if not isinstance(changes, Mapping):
        errors.append({"loc": loc, "msg": "must be an object", "type": "dict_type"})
        return current
    try:
        return model.model_validate({**current.model_dump(), **changes})
    except ValidationError as error:
        errors += [{"loc": (*loc, *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return current


def _public(value: BaseModel) -> dict[str, Any]:
    shown = value.model_dump(mode="json")
    for name in type(value).model_fields:
        if isinstance(getattr(value, name), SecretStr):
            shown[name] = {"is_set": bool(getattr(value, name).get_secret_value())}
    return shown
