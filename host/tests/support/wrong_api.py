"""A plugin written for a plugin API this host does not implement."""

from pydantic import BaseModel

from enttok import JobType, hookimpl


async def noop(ctx: object, payload: BaseModel) -> None:
    return None


@hookimpl
def enttok_api_version() -> int:
    return 999


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("wrong_api.noop", noop)]
