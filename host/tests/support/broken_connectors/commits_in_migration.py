"""Defect: a migration function that leaves its transaction: `executescript` commits first,
so without the host's refusal its tables would stay behind while the plugin is refused."""

from __future__ import annotations

import sqlite3

from broken_connectors import reference
from enttok import Migration


def create_cache(connection: sqlite3.Connection) -> None:
    connection.executescript("CREATE TABLE commits_in_migration_cache (key TEXT PRIMARY KEY, value TEXT);")


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks(
    "commits_in_migration", reference.sync, Migration(2, create_cache, "a cache, made with executescript")
)
