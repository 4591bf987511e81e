"""The plugin's tables: conversations (`claude_sessions`), each run in one
(`claude_runs`), and journal suggestions (`claude_suggestions`).

A session has an id of ours, given before Claude has said anything, so the app can create
one and spawn runs into it. Claude's own session id arrives with each run's first message
and is kept as `claude_session_id`: the next run resumes from it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from enttok import Migration

MIGRATIONS = [
    Migration(
        1,
        """
        CREATE TABLE claude_sessions (
            session_id TEXT PRIMARY KEY,
            claude_session_id TEXT,
            title TEXT,
            model TEXT,
            cwd TEXT,
            allowed_tools_json TEXT NOT NULL DEFAULT '[]',
            runs INTEGER NOT NULL DEFAULT 0,
            total_cost_usd REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE claude_runs (
            job_id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            prompt TEXT NOT NULL,
            status TEXT NOT NULL,
            text TEXT,
            claude_session_id TEXT,
            cost_usd REAL,
            usage_json TEXT,
            num_turns INTEGER,
            error TEXT,
            pid INTEGER,
            pid_started TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX claude_runs_session ON claude_runs (session_id, started_at);
        CREATE TABLE claude_suggestions (
            suggestion_id TEXT PRIMARY KEY,
            note_date TEXT NOT NULL,
            note_path TEXT,
            markdown TEXT NOT NULL,
            entries INTEGER NOT NULL,
            entries_shown INTEGER NOT NULL,
            session_id TEXT,
            cost_usd REAL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX claude_suggestions_date ON claude_suggestions (note_date, created_at);
        """,
        "Claude sessions, their runs, and journal suggestions",
    )
]

SESSION_COLUMNS = (
    "session_id, claude_session_id, title, model, cwd, allowed_tools_json, runs, total_cost_usd,"
    " created_at, updated_at"
)
RUN_COLUMNS = (
    "job_id, session_id, prompt, status, text, claude_session_id, cost_usd, usage_json, num_turns,"
    " error, started_at, finished_at"
)
SUGGESTION_COLUMNS = (
    "suggestion_id, note_date, note_path, markdown, entries, entries_shown, session_id, cost_usd, created_at"
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_session(
    connection: sqlite3.Connection,
    *,
    title: str | None,
    model: str | None = None,
    cwd: str | None = None,
    allowed_tools: list[str] | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """A new session; given a `session_id` that exists already, that one (a job run again
    after a host restart finds the session its first attempt made)."""
    session_id = session_id or f"ses_{uuid.uuid4().hex}"
    moment = now()
    connection.execute(
        "INSERT OR IGNORE INTO claude_sessions"
        " (session_id, title, model, cwd, allowed_tools_json, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, title, model, cwd, json.dumps(allowed_tools or []), moment, moment),
    )
    session = get_session(connection, session_id)
    assert session is not None
    return session


def get_session(connection: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        f"SELECT {SESSION_COLUMNS} FROM claude_sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    return _session(row) if row else None


def list_sessions(connection: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    rows = connection.execute(
        f"SELECT {SESSION_COLUMNS} FROM claude_sessions ORDER BY updated_at DESC, session_id LIMIT ?",
        (limit,),
    )
    return [_session(row) for row in rows]


def session_runs(connection: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        f"SELECT {RUN_COLUMNS} FROM claude_runs WHERE session_id = ? ORDER BY started_at, job_id",
        (session_id,),
    )
    return [_run(row) for row in rows]


def start_run(connection: sqlite3.Connection, job_id: str, session_id: str, prompt: str) -> None:
    """The run is stored as it starts: a run that never finishes still shows, as `running`."""
    connection.execute(
        f"INSERT OR REPLACE INTO claude_runs ({RUN_COLUMNS})"
        " VALUES (?, ?, ?, 'running', NULL, NULL, NULL, NULL, NULL, NULL, ?, NULL)",
        (job_id, session_id, prompt, now()),
    )


def note_pid(connection: sqlite3.Connection, job_id: str, pid: int, started: str | None) -> None:
    """The CLI's pid (its process group's id) and start time, for `interrupted_runs`."""
    connection.execute(
        "UPDATE claude_runs SET pid = ?, pid_started = ? WHERE job_id = ?", (pid, started, job_id)
    )


def interrupted_runs(connection: sqlite3.Connection) -> list[tuple[str, int | None, str | None]]:
    """Runs still marked running when the host starts: the host died during them."""
    rows = connection.execute("SELECT job_id, pid, pid_started FROM claude_runs WHERE status = 'running'")
    return [tuple(row) for row in rows]


def mark_interrupted(connection: sqlite3.Connection, job_id: str) -> None:
    connection.execute(
        "UPDATE claude_runs SET status = 'interrupted', error = ?, finished_at = ? WHERE job_id = ?",
        ("the host stopped during the run", now(), job_id),
    )


def note_claude_session(connection: sqlite3.Connection, session_id: str, claude_session_id: str) -> None:
    """Claude named its session: from now on the session resumes from it, even if this run
    is stopped half-way."""
    connection.execute(
        "UPDATE claude_sessions SET claude_session_id = ?, updated_at = ? WHERE session_id = ?",
        (claude_session_id, now(), session_id),
    )


def finish_run(
    connection: sqlite3.Connection,
    job_id: str,
    session_id: str,
    *,
    status: str,
    text: str | None = None,
    claude_session_id: str | None = None,
    cost_usd: float | None = None,
    usage: Any = None,
    num_turns: int | None = None,
    error: str | None = None,
) -> None:
    moment = now()
    connection.execute(
        "UPDATE claude_runs SET status = ?, text = ?, claude_session_id = ?, cost_usd = ?, usage_json = ?,"
        " num_turns = ?, error = ?, finished_at = ? WHERE job_id = ?",
        (
            status,
            text,
            claude_session_id,
            cost_usd,
            json.dumps(usage) if usage is not None else None,
            num_turns,
            error,
            moment,
            job_id,
        ),
    )
    connection.execute(
        "UPDATE claude_sessions SET runs = runs + 1, total_cost_usd = total_cost_usd + ?,"
        " claude_session_id = COALESCE(?, claude_session_id), updated_at = ? WHERE session_id = ?",
        (cost_usd or 0.0, claude_session_id, moment, session_id),
    )


def save_suggestion(connection: sqlite3.Connection, suggestion: dict[str, Any]) -> None:
    names = SUGGESTION_COLUMNS.split(", ")
    connection.execute(
        f"INSERT OR REPLACE INTO claude_suggestions ({SUGGESTION_COLUMNS})"
        f" VALUES ({', '.join('?' * len(names))})",
        tuple(suggestion[name] for name in names),
    )


def list_suggestions(
    connection: sqlite3.Connection, note_date: str | None, limit: int
) -> list[dict[str, Any]]:
    where, parameters = ("WHERE note_date = ?", [note_date]) if note_date else ("", [])
    rows = connection.execute(
        f"SELECT {SUGGESTION_COLUMNS} FROM claude_suggestions {where}"
        " ORDER BY note_date DESC, created_at DESC LIMIT ?",
        (*parameters, limit),
    )
    return [dict(zip(SUGGESTION_COLUMNS.split(", "), row, strict=True)) for row in rows]


def get_suggestion(connection: sqlite3.Connection, suggestion_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        f"SELECT {SUGGESTION_COLUMNS} FROM claude_suggestions WHERE suggestion_id = ?", (suggestion_id,)
    ).fetchone()
    return dict(zip(SUGGESTION_COLUMNS.split(", "), row, strict=True)) if row else None


def _session(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(SESSION_COLUMNS.split(", "), row, strict=True))
    values["allowed_tools"] = json.loads(values.pop("allowed_tools_json"))
    values["run_count"] = values.pop("runs")
    return values


def _run(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    values = dict(zip(RUN_COLUMNS.split(", "), row, strict=True))
    usage = values.pop("usage_json")
    values["usage"] = json.loads(usage) if usage else None
    return values
