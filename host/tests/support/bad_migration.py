"""A plugin whose migration creates a table outside its `bad_migration_` prefix."""

from pydantic import BaseModel

from enttok import JobType, Migration, hookimpl


async def noop(ctx: object, payload: BaseModel) -> None:
    return None


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("bad_migration.noop", noop)]


@hookimpl
def enttok_migrations() -> list[Migration]:
    return [
        Migration(
            1,
            "CREATE TABLE bad_migration_ok (id INTEGER PRIMARY KEY); CREATE TABLE stolen (id INTEGER PRIMARY KEY);",
            "one table in the prefix, one outside it",
        )
    ]
