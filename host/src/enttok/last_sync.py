"""An account's last sync, kept once for every connector: when its last sync job ended, how,
and how many rows and timeline entries that job's pages committed.

The count is exact because each page adds to it in its own transaction (`sync_items`, written
by `enttok.sync`); when the job ends, the worker moves it into `account_syncs` with the
job's status and error, and the account routes show it as `last_sync`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from enttok import clock

SELECT_WITH_LAST_SYNC = (
    "SELECT a.*, s.job_id AS sync_job_id, s.status AS sync_status, s.finished_at AS sync_finished_at,"
    " s.rows AS sync_rows, s.activity AS sync_activity, s.error_json AS sync_error_json"
    " FROM accounts a LEFT JOIN account_syncs s ON s.plugin = a.plugin AND s.account_id = a.account_id"
)


def record_sync_end(
    connection: sqlite3.Connection,
    plugin: str,
    account_id: str,
    job_id: str,
    status: str,
    error: Mapping[str, Any] | None,
) -> None:
    """The account's last sync is now this job, with what its pages committed (`sync_items`,
    counted in each page's own transaction). Nothing is recorded for an account deleted meanwhile."""
    connection.execute(
        "INSERT INTO account_syncs (plugin, account_id, job_id, status, finished_at, rows, activity, error_json)"
        " SELECT a.plugin, a.account_id, ?, ?, ?, coalesce(i.rows, 0), coalesce(i.activity, 0), ?"
        " FROM accounts a LEFT JOIN sync_items i ON i.job_id = ?"
        " WHERE a.plugin = ? AND a.account_id = ?"
        " ON CONFLICT (plugin, account_id) DO UPDATE SET job_id = excluded.job_id, status = excluded.status,"
        " finished_at = excluded.finished_at, rows = excluded.rows, activity = excluded.activity,"
        " error_json = excluded.error_json",
        (
            job_id,
            status,
            clock.now_iso(),
            json.dumps(dict(error)) if error is not None else None,
            job_id,
            plugin,
            account_id,
        ),
    )


def last_sync(row: sqlite3.Row) -> dict[str, Any] | None:
    """The account record's `last_sync`, from a row of SELECT_WITH_LAST_SYNC (None until a
    sync of the account has ended)."""
    if row["sync_job_id"] is None:
        return None
    rows, activity = row["sync_rows"], row["sync_activity"]
    return {
        "job_id": row["sync_job_id"],
        "status": row["sync_status"],
        "finished_at": row["sync_finished_at"],
        "items": rows + activity,
        "rows": rows,
        "activity": activity,
        "error": json.loads(row["sync_error_json"]) if row["sync_error_json"] else None,
    }
