"""enttok-claude: runs the Claude Code CLI for the app, and writes the daily journal with it.

- `claude.run` `{"prompt", "session_id"?, "model"?, "cwd"?, "allowed_tools"?, "timeout"?}`:
  one `claude -p` run, streamed into the job's events; a session continues with `--resume`
  (see `run.py` and `process.py`).
- `claude.suggest.generate` `{"note_date"?, "note_path"?, "context_limit"?}`: a journal
  suggestion for a day from the shared activity timeline (see `suggest.py`); the daily
  schedule `claude.daily_journal` is off until the user switches it on.
- Routes under `/plugins/claude/`: `check`, `session`, `sessions`, `spawn`, `suggestions`
  (see `routes.py`).

This module is what the entry point names, so it stays cheap: pydantic models and
declarations only. The handlers load on the first job (`"module:function"`).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from enttok import JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost
from enttok_claude.models import ClaudeSettings, RunPayload, SuggestPayload

PLUGIN_API_VERSION = 1
#: The longest a `claude.run` may go on, whatever its payload or the settings say.
RUN_CEILING = 24 * 3600


@hookimpl
def enttok_api_version() -> int:
    return PLUGIN_API_VERSION


@hookimpl
def enttok_settings_model() -> type[ClaudeSettings]:
    return ClaudeSettings


@hookimpl
def enttok_job_types() -> list[JobType]:
    # One attempt each: a run that failed half-way may have used tools and cost money, so it
    # is for the person to run it again, not for the queue.
    return [
        JobType(
            "claude.run",
            "enttok_claude.run:run",
            RunPayload,
            description="Run the Claude Code CLI for a prompt, in a new session or continuing one.",
            max_attempts=1,
            timeout=RUN_CEILING,
            concurrency=2,
        ),
        JobType(
            "claude.suggest.generate",
            "enttok_claude.suggest:generate",
            SuggestPayload,
            description="Write a journal suggestion for a day from its activity timeline, with Claude.",
            max_attempts=1,
            timeout=RUN_CEILING,
            concurrency=1,
        ),
    ]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    # Without a date the job writes up the day that last ended in the settings' time zone, which
    # at 00:30 UTC is a finished day everywhere. Switched on through
    # POST /settings {"host": {"schedules": {"claude.daily_journal": true}}}.
    return [Schedule("daily_journal", "claude.suggest.generate", {}, cron="30 0 * * *", enabled=False)]


@hookimpl
def enttok_migrations() -> list[Migration]:
    from enttok_claude.store import MIGRATIONS

    return MIGRATIONS


@hookimpl
def enttok_startup(host: PluginHost) -> None:
    """A host killed mid-run left its CLI running (in a session of its own): end what is left
    of each such run and mark it interrupted. The job itself is run again by the queue."""
    from enttok_claude import store

    connection = host.connect()
    try:
        for job_id, pid, started in store.interrupted_runs(connection):
            if pid is not None:
                from enttok_claude import process  # only after a crash: not on every start

                process.sweep(pid, started)
            store.mark_interrupted(connection, job_id)
    finally:
        connection.close()


@hookimpl
def enttok_routes() -> list[BaseRoute]:
    from enttok_claude.routes import routes

    return routes
