"""Versioned migrations: each owner's (the host's, each plugin's) applied in order, once, each
in a transaction of its own, and recorded in `schema_migrations`.

A plugin's step runs inside the transaction the runner opened; one that would end it, or
create a table outside the plugin's prefix, is rolled back and refused, so a plugin cannot
leave half a schema behind or touch the host's tables or another plugin's.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from enttok import clock
from enttok.declarations import Migration
from enttok.store_faults import StoreError

if TYPE_CHECKING:
    from enttok.store import Database

log = logging.getLogger(__name__)


def split_statements(script: str) -> Iterator[str]:
    """Complete SQL statements of a script, so a migration can run inside one transaction
    (`executescript` would commit first)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:80]}")


def migrate(
    db: Database, owner: str, migrations: Sequence[Migration], table_prefix: str | None = None
) -> int:
    """Apply `owner`'s migrations not yet recorded, each in its own transaction; how many ran.

    With `table_prefix`, a migration that creates a table or index outside it is rolled
    back and refused, so a plugin cannot touch the host's tables or another plugin's.
    """
    connection = db.connection
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " owner TEXT NOT NULL, version INTEGER NOT NULL, description TEXT,"
        " applied_at TEXT NOT NULL, PRIMARY KEY (owner, version))"
    )
    applied = {
        row[0]
        for row in connection.execute("SELECT version FROM schema_migrations WHERE owner = ?", (owner,))
    }
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise StoreError(f"{owner} declares a migration version twice: {sorted(versions)}")
    ran = 0
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in applied:
            continue
        with db.transaction() as tx:
            before = _schema_names(tx)
            _apply_in_transaction(tx, owner, migration)
            foreign = sorted(
                name
                for name in _schema_names(tx) - before
                if table_prefix and not name.startswith(table_prefix)
            )
            if foreign:
                raise StoreError(
                    f"{owner} migration {migration.version} creates {', '.join(foreign)}, "
                    f"outside its prefix {table_prefix!r}"
                )
            tx.execute(
                "INSERT INTO schema_migrations (owner, version, description, applied_at) VALUES (?, ?, ?, ?)",
                (owner, migration.version, migration.description, clock.now_iso()),
            )
        ran += 1
        log.info("applied %s migration %d %s", owner, migration.version, migration.description)
    return ran


def _apply(connection: sqlite3.Connection, step: str | Callable[[sqlite3.Connection], None]) -> None:
    if callable(step):
        step(connection)
        return
    for statement in split_statements(step):
        connection.execute(statement)


def _apply_in_transaction(connection: sqlite3.Connection, owner: str, migration: Migration) -> None:
    """Run a step inside the transaction the runner opened, refusing any statement that would
    end it (`commit()`, `executescript`, which commits first, or its own COMMIT or ROLLBACK):
    SQLite's authorizer stops it before it runs, so the whole step can still be rolled back
    instead of leaving its tables committed behind a refused plugin."""
    ended: list[str] = []

    def authorize(action: int, operation: str | None, *rest: str | None) -> int:
        if action == sqlite3.SQLITE_TRANSACTION:
            ended.append(operation or "")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    refusal = (
        f"{owner} migration {migration.version} tries to end the transaction it runs in"
        " (commit(), a COMMIT or ROLLBACK, or executescript, which commits first); it was rolled back"
    )
    connection.set_authorizer(authorize)
    try:
        _apply(connection, migration.apply)
    except sqlite3.DatabaseError:
        if ended:
            raise StoreError(refusal) from None
        raise
    finally:
        connection.set_authorizer(None)
    if ended:  # the step caught the refusal and carried on
        raise StoreError(refusal)


def _schema_names(connection: sqlite3.Connection) -> set[str]:
    return {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'view', 'trigger')"
            " AND name NOT LIKE 'sqlite_%'"
        )
    }
