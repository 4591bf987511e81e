"""Defect: a plugin that changes its data on every start: its start-up hook inserts a row."""

from __future__ import annotations

from broken_connectors import reference
from enttok import Migration, hookimpl
from enttok.plugin_host import PluginHost

STARTS = Migration(2, "CREATE TABLE startup_inserts_starts (at TEXT NOT NULL)", "one row per start")


@hookimpl
def enttok_startup(host: PluginHost) -> None:
    connection = host.connect()
    try:
        connection.execute("INSERT INTO startup_inserts_starts VALUES (datetime('now'))")
    finally:
        connection.close()


enttok_job_types, enttok_account_model, enttok_migrations = reference.hooks(
    "startup_inserts", reference.sync, STARTS
)
