"""`claude.run`: one prompt through the Claude CLI, in a session that the next run continues.

Every streamed message becomes a job event and the job's progress line, so the app follows
the run live on `/events`. A cancel or the run's timeout ends the CLI's whole process group
(see `process.py`); the job then ends `canceled`, or `failed` with code `timeout`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from enttok import JobContext, JobError, PermanentError
from enttok_claude import process, store
from enttok_claude.models import ClaudeSettings, RunPayload
from enttok_claude.stream import Transcript, clip


@dataclass(frozen=True)
class Outcome:
    """What a finished run gives back: the answer, Claude's session, what it cost."""

    text: str
    claude_session_id: str | None
    cost_usd: float | None
    usage: dict[str, Any] | None
    num_turns: int | None
    duration_ms: int | None
    model: str | None


async def run(ctx: JobContext, payload: RunPayload) -> dict[str, Any]:
    settings = settings_of(ctx)
    binary = process.locate(settings.binary)  # before anything is stored: a readable failure
    session = await ctx.run_blocking(_session_for, ctx, payload)
    invocation = process.Invocation(
        binary=binary,
        prompt=payload.prompt,
        resume=session["claude_session_id"],
        model=payload.model or session["model"] or settings.model,
        cwd=payload.cwd or session["cwd"],
        allowed_tools=payload.allowed_tools or session["allowed_tools"],
    )
    outcome = await run_in_session(
        ctx, session["session_id"], invocation, time_limit=payload.timeout or settings.run_timeout
    )
    return {"session_id": session["session_id"], **asdict(outcome)}


async def run_in_session(
    ctx: JobContext, session_id: str, invocation: process.Invocation, *, time_limit: float
) -> Outcome:
    """`converse`, recorded as a run of the session: started, then finished however it ends."""
    await ctx.run_blocking(write, ctx, store.start_run, ctx.job_id, session_id, invocation.prompt)

    def claude_named(claude_session_id: str) -> None:
        write(ctx, store.note_claude_session, session_id, claude_session_id)

    def started(pid: int) -> None:
        write(ctx, store.note_pid, ctx.job_id, pid, process.started_at(pid))

    try:
        outcome = await converse(
            ctx, invocation, time_limit=time_limit, on_session=claude_named, on_start=started
        )
    except BaseException as error:
        status = "canceled" if ctx.cancelled and not isinstance(error, JobError) else "failed"
        message = error.message if isinstance(error, JobError) else status
        await ctx.run_blocking(
            write, ctx, store.finish_run, ctx.job_id, session_id, status=status, error=message
        )
        raise
    await ctx.run_blocking(
        write,
        ctx,
        store.finish_run,
        ctx.job_id,
        session_id,
        status="succeeded",
        text=outcome.text,
        claude_session_id=outcome.claude_session_id,
        cost_usd=outcome.cost_usd,
        usage=outcome.usage,
        num_turns=outcome.num_turns,
    )
    return outcome


async def converse(
    ctx: JobContext,
    invocation: process.Invocation,
    *,
    time_limit: float,
    on_session: Callable[[str], None] = lambda claude_session_id: None,
    on_start: Callable[[int], None] = lambda pid: None,
) -> Outcome:
    """Run the CLI for this job: its messages as events and progress, its end as an `Outcome`
    or an error that says what went wrong in a sentence."""
    settings = settings_of(ctx)
    transcript = Transcript()

    def on_message(message: dict[str, Any]) -> None:
        known = transcript.session_id
        summary, data = transcript.add(message)
        ctx.log(summary, **data)
        ctx.progress(None, summary)
        if transcript.session_id and transcript.session_id != known:
            on_session(transcript.session_id)

    def on_noise(line: str) -> None:
        ctx.log(clip(f"Claude printed: {line}"), level="warning", kind="noise")

    ctx.progress(0.0, "starting Claude")
    try:
        exit = await process.run(
            invocation,
            on_message,
            stop=ctx.wait_cancelled,
            time_limit=time_limit,
            grace=settings.kill_grace,
            on_noise=on_noise,
            on_start=on_start,
        )
    except process.Stopped as stopped:
        if stopped.reason == "timeout":
            raise PermanentError(
                f"Claude ran over {time_limit:g}s and was stopped.", code="timeout"
            ) from None
        ctx.check_cancelled()
        raise
    result = transcript.result
    if result is None:
        raise PermanentError(
            f"Claude ended without a result ({exit.reason()}).",
            code="claude_failed" if exit.returncode else "claude_no_result",
        )
    if result.get("is_error") or result.get("subtype") not in (None, "success"):
        detail = clip(str(result.get("result") or result.get("subtype") or "no detail"), 500)
        raise PermanentError(f"Claude reported an error: {detail}", code="claude_error")
    ctx.progress(1.0, "Claude finished")
    return Outcome(
        text=transcript.text(),
        claude_session_id=transcript.session_id,
        cost_usd=_number(result.get("total_cost_usd")),
        usage=result.get("usage") if isinstance(result.get("usage"), dict) else None,
        num_turns=result.get("num_turns") if isinstance(result.get("num_turns"), int) else None,
        duration_ms=result.get("duration_ms") if isinstance(result.get("duration_ms"), int) else None,
        model=transcript.model,
    )


def settings_of(ctx: JobContext) -> ClaudeSettings:
    return ctx.settings if isinstance(ctx.settings, ClaudeSettings) else ClaudeSettings()


def _session_for(ctx: JobContext, payload: RunPayload) -> dict[str, Any]:
    """The session the payload names, or a new one titled by the prompt."""
    with ctx.transaction() as connection:
        if payload.session_id is None:
            return store.new_session(
                connection,
                title=clip(payload.prompt, 80),
                model=payload.model,
                cwd=payload.cwd,
                allowed_tools=payload.allowed_tools,
                session_id=f"ses_{ctx.job_id.removeprefix('job_')}",
            )
        session = store.get_session(connection, payload.session_id)
    if session is None:
        raise PermanentError(f"There is no Claude session {payload.session_id!r}.", code="session_not_found")
    return session


def write(ctx: JobContext, change: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    with ctx.transaction() as connection:
        change(connection, *args, **kwargs)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
