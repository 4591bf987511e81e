"""Plugin `keeper`: accounts, a table the kit empties by itself (`keeper_notes`, keyed by
`account_id`), one only its `enttok_account_deleted` hook knows (`keeper_links`, keyed by
`owner`), and two schedules: `ghost` names an account that may not exist, `tick` names none.

The hook refuses to delete account `stubborn`, to show the whole deletion rolls back."""

from __future__ import annotations

import sqlite3

from pydantic import BaseModel, ConfigDict, SecretStr

from enttok import JobContext, JobType, Migration, Schedule, hookimpl
from enttok.plugin_host import PluginHost

TICK = 0.2


class KeeperAccount(BaseModel):
    token: SecretStr | None = None


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = None


async def touch(ctx: JobContext, payload: Payload) -> dict[str, str | None]:
    return {"account_id": payload.account_id}


@hookimpl
def enttok_account_model() -> type[BaseModel]:
    return KeeperAccount


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("keeper.touch", touch, Payload), JobType("keeper.tick", touch, Payload)]


@hookimpl
def enttok_schedules() -> list[Schedule]:
    return [
        Schedule("ghost", "keeper.touch", {"account_id": "ghost"}, interval=TICK),
        Schedule("tick", "keeper.tick", {}, interval=TICK),
    ]


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            """
            CREATE TABLE keeper_notes (account_id TEXT NOT NULL, note TEXT NOT NULL);
            CREATE TABLE keeper_links (owner TEXT NOT NULL, url TEXT NOT NULL);
            """,
        )
    ]


@hookimpl
def enttok_account_deleted(host: PluginHost, account_id: str, connection: sqlite3.Connection) -> None:
    connection.execute("DELETE FROM keeper_links WHERE owner = ?", (account_id,))
    if account_id == "stubborn":
        raise RuntimeError("keeper will not let go of stubborn")
