"""What a plugin declares through its hooks: job types, schedules and migrations.

These are plain frozen dataclasses so a plugin can build them at import time for free; the
host validates them when it loads the plugin and reports a bad one as the plugin's failure.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from enttok.context import JobContext

#: A handler is `async def handler(ctx, payload)` or a blocking `def handler(ctx, payload)`;
#: a blocking one runs in a worker thread. Its return value (JSON-able) is the job's result.
Handler: TypeAlias = Callable[["JobContext", Any], Awaitable[Any] | Any]


class NoPayload(BaseModel):
    """The payload of a job type that takes none: `{}`."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class JobType:
    """A kind of job a plugin can run.

    `handler` may be the function itself or a `"package.module:function"` string, imported
    on the first job of this type: that keeps a heavy SDK out of the host's start-up.
    """

    name: str
    handler: Handler | str
    payload: type[BaseModel] = NoPayload
    description: str = ""
    max_attempts: int = 3
    timeout: float | None = None
    """Seconds an attempt may run before it fails as retryable `timeout`."""
    concurrency: int | None = None
    """How many jobs of this type may run at once; `None` leaves it to the worker pool."""

    def resolve_handler(self) -> Handler:
        if not isinstance(self.handler, str):
            return self.handler
        module_name, _, attribute = self.handler.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def payload_schema(self) -> dict[str, Any]:
        return self.payload.model_json_schema()


@dataclass(frozen=True)
class Schedule:
    """A job enqueued on a timer: every `interval` seconds, or on a five-field `cron` line.

    Runs missed while the machine slept are coalesced into one. A disabled schedule can be
    switched on through the host settings (`schedules` maps `"<plugin>.<id>"` to a bool).
    """

    id: str
    job_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    interval: float | None = None
    cron: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise ValueError(f"schedule {self.id!r} needs exactly one of interval or cron")
        if self.interval is not None and self.interval <= 0:
            raise ValueError(f"schedule {self.id!r} has a non-positive interval")


@dataclass(frozen=True)
class Migration:
    """One step of a plugin's schema, applied once in version order inside a transaction.

    `apply` is SQL (several statements allowed) or a function given the open connection.
    Every table it creates must be named `<plugin>_<table>`.
    """

    version: int
    apply: str | Callable[[sqlite3.Connection], None]
    description: str = ""
