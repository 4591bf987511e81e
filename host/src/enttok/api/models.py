"""The API's request and response bodies; `/openapi.json` is built from these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field


def _iso_text(value: object) -> object:
    """Only ISO 8601 text (or a datetime) is a time here: pydantic would also read a bare
    number as a Unix timestamp, which the contract does not offer."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 time such as 2026-01-02T03:04:05Z")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("expected an ISO 8601 time such as 2026-01-02T03:04:05Z") from None


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


#: An aware time that can be written in UTC (years 1 to 9999 once converted).
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]


class ApiModel(BaseModel):
    """Built on first use, not at import: most of these are only read for /openapi.json."""

    model_config = ConfigDict(defer_build=True)


class Strict(ApiModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class JobSubmission(Strict):
    type: str = Field(min_length=1, max_length=200, description="A job type from GET /plugins.")
    payload: dict[str, Any] = Field(default_factory=dict, description="Checked against the type's schema.")
    dedupe_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="While a job with this key is queued or running, return it.",
    )
    run_after: UtcDatetime | None = Field(None, description="Not before this time (ISO 8601 with a zone).")


class JobCreated(ApiModel):
    job_id: str
    status: JobStatus
    deduplicated: bool = False


class JobErrorBody(ApiModel):
    code: str
    message: str
    retryable: bool


class Job(ApiModel):
    job_id: str
    type: str
    status: JobStatus
    created_at: str
    updated_at: str
    run_after: str
    attempt: int
    max_attempts: int
    progress: float | None
    message: str | None
    payload: dict[str, Any]
    result: Any
    error: JobErrorBody | None
    dedupe_key: str | None


class JobList(ApiModel):
    jobs: list[Job]
    next_before: str | None = Field(description="Pass as `before` for the next (older) page.")


class JobListQuery(Strict):
    status: JobStatus | None = None
    type: str | None = None
    limit: int = Field(50, ge=1, le=500)
    before: str | None = Field(None, description="A job_id: list jobs older than it.")


class EventStreamQuery(Strict):
    since: int | None = Field(None, ge=0, description="Replay the stored events after this seq first.")
    batch: Literal[0, 1] = Field(0, description="1: each message is a JSON array of events.")


class Event(ApiModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    seq: int
    type: str
    job_id: str | None
    level: str
    message: str | None
    at: str


class EventList(ApiModel):
    events: list[Event]


class HostFault(ApiModel):
    code: str = Field(
        description="disk_full, database_busy, database_replaced, ... (the code refused writes answer with)"
    )
    message: str
    fatal: bool = Field(description="True: the host takes no more work; restart it.")
    since: str


class Health(ApiModel):
    status: Literal["ok", "degraded", "error"] = Field(
        description="degraded: a fault the host retries (writes refused, reads work); error (503): "
        "it cannot go on and takes no more work."
    )
    version: str
    fault: HostFault | None = None


class HostHealth(ApiModel):
    status: Literal["ok", "degraded", "error"]
    fault: HostFault | None


class Workers(ApiModel):
    active: int
    idle: int


class ScheduledJob(ApiModel):
    id: str
    job_type: str
    enabled: bool
    interval: float | None = Field(
        description="Seconds between runs, as the settings have it; null for a cron."
    )
    next_run_at: str | None


class SchedulerStatus(ApiModel):
    running: bool
    jobs: list[ScheduledJob]


class PluginStates(ApiModel):
    loaded: list[str]
    failed: list[str]


class SecretStoreError(ApiModel):
    code: Literal["secrets_unavailable"]
    message: str


class SecretStoreStatus(ApiModel):
    store: str | None = Field(description="keyring, encrypted-file or none; null until first used.")
    ok: bool = Field(description="False when saved secrets cannot be read (BACKEND_SECRET_KEY).")
    error: SecretStoreError | None


class Status(ApiModel):
    health: HostHealth
    uptime_sec: float
    queue_depth: int
    workers: Workers
    scheduler: SchedulerStatus
    plugins: PluginStates
    event_subscribers: int
    secrets: SecretStoreStatus


class JobTypeInfo(ApiModel):
    name: str
    description: str
    max_attempts: int
    timeout: float | None
    concurrency: int | None
    payload_schema: dict[str, Any]


class ScheduleInfo(ApiModel):
    id: str
    job_type: str
    interval: float | None
    cron: str | None
    enabled_by_default: bool
    payload: dict[str, Any]


class PluginInfo(ApiModel):
    name: str
    version: str | None
    state: Literal["loaded", "failed"]
    error: str | None
    job_types: list[JobTypeInfo]
    schedules: list[ScheduleInfo]
    routes: list[str]
    settings_schema: dict[str, Any] | None
    account_schema: dict[str, Any] | None


class PluginList(ApiModel):
    plugins: list[PluginInfo]


class SettingsView(ApiModel):
    host: dict[str, Any]
    plugins: dict[str, dict[str, Any]]


class SettingsChange(Strict):
    host: dict[str, Any] | None = None
    plugins: dict[str, dict[str, Any]] | None = None


class ActivityQuery(Strict):
    from_: UtcDatetime | None = Field(None, alias="from", description="Events at or after this time.")
    to: UtcDatetime | None = Field(None, description="Events before this time.")
    source: str | None = None
    account_id: str | None = None
    limit: int = Field(100, ge=1, le=1000)


class ActivityEvent(ApiModel):
    event_id: str
    source: str
    account_id: str
    event_type: str
    title: str | None
    description: str | None
    url: str | None
    actor: str | None
    event_time: str
    raw: Any


class ActivityList(ApiModel):
    events: list[ActivityEvent]


class ErrorDetail(ApiModel):
    code: str = Field(description="snake_case, stable")
    message: str
    details: Any = None


class ErrorBody(ApiModel):
    error: ErrorDetail
