"""Defect: a plugin that fails on the second start: its start-up hook creates a table without
`IF NOT EXISTS` (work for a migration), which fails once the table is there."""

from __future__ import annotations

from broken_connectors import reference
from enttok import hookimpl
from enttok.plugin_host import PluginHost


@hookimpl
def enttok_startup(host: PluginHost) -> None:
    connection = host.connect()
    try:
        connection.execute("CREATE TABLE second_start_fails_cache (key TEXT PRIMARY KEY, value TEXT)")
    finally:
        connection.close()


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks(
    "second_start_fails", reference.sync
)
