"""Plugin `keeper_x`: its table starts `keeper_`, like plugin `keeper`'s, and has an
`account_id` column; deleting a `keeper` account must leave it alone."""

from __future__ import annotations

from enttok import Migration, hookimpl


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [Migration(1, "CREATE TABLE keeper_x_items (account_id TEXT NOT NULL, item TEXT NOT NULL);")]
