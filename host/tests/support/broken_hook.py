"""A plugin whose `enttok_job_types` hook raises."""

from enttok import hookimpl


@hookimpl
def enttok_job_types() -> list:
    raise KeyError("broken_hook lost its job table")
