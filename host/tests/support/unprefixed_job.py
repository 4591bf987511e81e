"""A plugin declaring a job type outside its own `unprefixed_job.` namespace."""

from pydantic import BaseModel

from enttok import JobType, hookimpl


async def noop(ctx: object, payload: BaseModel) -> None:
    return None


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [JobType("unprefixed_job.fine", noop), JobType("demo.hijack", noop)]
