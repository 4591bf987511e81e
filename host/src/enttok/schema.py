"""The host's own tables (jobs, events, cursors, the timeline, settings, accounts), as the
versioned migrations `enttok.migrations` applies at every start. A plugin's tables are its
own migrations, under its own owner name.
"""

from __future__ import annotations

from enttok.declarations import Migration

HOST_OWNER = "host"

HOST_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        """
        CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            run_after TEXT NOT NULL,
            finished_at TEXT,
            attempt INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            progress REAL,
            message TEXT,
            payload_json TEXT NOT NULL,
            result_json TEXT,
            error_json TEXT,
            dedupe_key TEXT
        );
        CREATE INDEX jobs_ready ON jobs (status, run_after, job_id);
        CREATE INDEX jobs_status ON jobs (status, job_id);
        CREATE INDEX jobs_type ON jobs (type, job_id);
        CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key)
            WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');

        CREATE TABLE job_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT,
            created_at TEXT NOT NULL,
            type TEXT NOT NULL,
            level TEXT NOT NULL DEFAULT 'info',
            message TEXT,
            data_json TEXT
        );
        CREATE INDEX job_events_job ON job_events (job_id, seq);

        CREATE TABLE sync_state (
            connector TEXT NOT NULL,
            scope TEXT NOT NULL DEFAULT '',
            cursor TEXT,
            last_sync_at TEXT,
            PRIMARY KEY (connector, scope)
        );

        CREATE TABLE activity_events (
            event_id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            account_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            title TEXT,
            description TEXT,
            url TEXT,
            actor TEXT,
            event_time TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            raw_json TEXT
        );
        CREATE INDEX activity_time ON activity_events (event_time);
        CREATE INDEX activity_source ON activity_events (source, event_time);
        CREATE INDEX activity_account ON activity_events (account_id, event_time);

        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
        "host tables",
    ),
    Migration(
        2,
        """
        CREATE TABLE accounts (
            plugin TEXT NOT NULL,
            account_id TEXT NOT NULL,
            data_json TEXT NOT NULL,
            secret_fields TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            status_reason TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (plugin, account_id)
        );
        """,
        "connector accounts (their secrets live in the keyring)",
    ),
    # Every sync rewrites its pages and entries arrive out of time order from many sources: the
    # two extra indexes made each timeline write 2.6 times as costly (bench/README.md), while
    # readers ask for a day or so, which the time index finds and then filters cheaply.
    Migration(
        3,
        """
        DROP INDEX activity_source;
        DROP INDEX activity_account;
        """,
        "the activity timeline keeps one index, by time",
    ),
    # `sync_items` counts what a running job's pages commit, in each page's own transaction;
    # when the job ends the count moves into `account_syncs`, the account's last sync.
    Migration(
        4,
        """
        CREATE TABLE sync_items (
            job_id TEXT PRIMARY KEY,
            rows INTEGER NOT NULL DEFAULT 0,
            activity INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE account_syncs (
            plugin TEXT NOT NULL,
            account_id TEXT NOT NULL,
            job_id TEXT NOT NULL,
            status TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            rows INTEGER NOT NULL,
            activity INTEGER NOT NULL,
            error_json TEXT,
            PRIMARY KEY (plugin, account_id)
        );
        """,
        "the last sync of each account, and what a running sync has committed",
    ),
)
