"""`/jobs`: submit, list, read, cancel. Nothing here waits on a job."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import Route

from enttok import clock
from enttok.api import inputs
from enttok.api.errors import ApiError, invalid
from enttok.api.models import EventList, Job, JobCreated, JobList, JobListQuery, JobSubmission
from enttok.api.openapi import documented
from enttok.api.responses import JSONResponse
from enttok.host import Host, UnknownJobType
from enttok.queue import JobAlreadyEnded, JobNotFound, QueueFull

T = TypeVar("T")


def _host(request: Request) -> Host:
    return request.app.state.host


@documented(
    "Submit a job",
    body=JobSubmission,
    response=JobCreated,
    status=201,
    errors=(200, 400, 422, 429, 503, 507),
)
async def submit_job(request: Request) -> JSONResponse:
    submission = await inputs.body(request, JobSubmission)
    run_after = clock.iso(submission.run_after) if submission.run_after else None
    try:
        record, created = await _host(request).submit(
            submission.type, submission.payload, dedupe_key=submission.dedupe_key, run_after=run_after
        )
    except UnknownJobType:
        raise ApiError(
            422,
            "unknown_job_type",
            f"No loaded plugin runs job type {submission.type!r}; see GET /plugins.",
            [{"field": "type", "message": "unknown job type"}],
        ) from None
    except ValidationError as error:
        raise invalid(error, ("payload",)) from None
    except QueueFull:
        raise ApiError(
            429, "queue_full", "The queue is full; try again shortly.", headers={"Retry-After": "1"}
        ) from None
    body = {"job_id": record["job_id"], "status": record["status"], "deduplicated": not created}
    return JSONResponse(body, status_code=201 if created else 200)


@documented("List jobs, newest first", query=JobListQuery, response=JobList, errors=(422,))
async def list_jobs(request: Request) -> JSONResponse:
    query = inputs.query(request, JobListQuery)
    jobs = _host(request).queue.list(
        status=query.status, type=query.type, limit=query.limit, before=query.before
    )
    next_before = jobs[-1]["job_id"] if len(jobs) == query.limit else None
    return JSONResponse({"jobs": jobs, "next_before": next_before})


@documented("Read one job", response=Job, errors=(404,))
async def get_job(request: Request) -> JSONResponse:
    return JSONResponse(_job_or_404(request, lambda host, job_id: host.queue.get(job_id)))


@documented("A job's events, oldest first", response=EventList, errors=(404,))
async def job_events(request: Request) -> JSONResponse:
    return JSONResponse({"events": _job_or_404(request, lambda host, job_id: host.queue.events(job_id))})


@documented("Cancel a job", response=Job, errors=(404, 409, 503, 507))
async def cancel_job(request: Request) -> JSONResponse:
    host = _host(request)
    try:
        return JSONResponse(
            await host.database.write_patiently(
                lambda: _job_or_404(request, lambda host, job_id: host.cancel(job_id))
            )
        )
    except JobAlreadyEnded as ended:
        raise ApiError(409, "job_already_ended", f"The job already ended {ended.status}.") from None


def _job_or_404(request: Request, read: Callable[[Host, str], T]) -> T:
    job_id = request.path_params["job_id"]
    try:
        return read(_host(request), job_id)
    except JobNotFound:
        raise ApiError(404, "job_not_found", f"No job {job_id!r}.") from None


routes = [
    Route("/jobs", submit_job, methods=["POST"]),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
]
