"""Plugin `testjobs`: job types that exercise the queue's edges (loaded by the tests through
ENTTOK_PLUGIN_MODULES, never installed)."""

from __future__ import annotations

import asyncio
import threading
import time

from pydantic import BaseModel, ConfigDict, Field

from enttok import JobContext, JobType, RetryableError, hookimpl

LIMIT = 2
TIMEOUT = 0.3

_overlap = {"now": 0}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryAfterPayload(Strict):
    seconds: float = Field(ge=0)


class HangPayload(Strict):
    seconds: float = Field(30, ge=0)


class LimitedPayload(Strict):
    seconds: float = Field(0.3, ge=0)


class BlockingPayload(Strict):
    steps: int = Field(5, ge=1)
    delay: float = Field(0.05, ge=0)


class ChattyPayload(Strict):
    count: int = Field(10_000, ge=1)


class SpamPayload(Strict):
    count: int = Field(ge=1)
    size: int = Field(ge=0)
    burst: int = Field(50, ge=1)


async def retry_after(ctx: JobContext, payload: RetryAfterPayload) -> dict[str, int]:
    """Fails its first attempt with the server's word on when to come back, then succeeds."""
    if ctx.attempt == 1:
        raise RetryableError("rate limited", retry_after=payload.seconds, code="rate_limited")
    return {"attempt": ctx.attempt}


async def hang(ctx: JobContext, payload: HangPayload) -> None:
    """Ignores cancellation checkpoints: only the host's timeout (or task cancel) stops it."""
    await asyncio.sleep(payload.seconds)


def _deep_inner_frame() -> None:
    raise ValueError("kaboom in the handler")


async def crash(ctx: JobContext, payload: BaseModel) -> None:
    _deep_inner_frame()


async def limited(ctx: JobContext, payload: LimitedPayload) -> dict[str, int]:
    """Records how many jobs of its type run at the same moment."""
    _overlap["now"] += 1
    seen = _overlap["now"]
    try:
        await asyncio.sleep(payload.seconds)
        return {"overlap": max(seen, _overlap["now"])}
    finally:
        _overlap["now"] -= 1


def blocking(ctx: JobContext, payload: BlockingPayload) -> dict[str, str]:
    """A plain (blocking) handler: it runs in a worker thread."""
    for step in range(1, payload.steps + 1):
        time.sleep(payload.delay)
        ctx.progress(step / payload.steps, f"step {step}/{payload.steps}")
    return {"thread": threading.current_thread().name}


def chatty(ctx: JobContext, payload: ChattyPayload) -> dict[str, int]:
    """Reports progress on every one of `count` items, for about a second."""
    for item in range(1, payload.count + 1):
        ctx.progress(item / payload.count, f"{item}/{payload.count}")
        if item % 100 == 0:
            time.sleep(0.01)
    return {"items": payload.count}


async def spam(ctx: JobContext, payload: SpamPayload) -> dict[str, int]:
    """Logs `count` events of about `size` bytes each, in bursts."""
    padding = "x" * payload.size
    for item in range(1, payload.count + 1):
        ctx.log(f"spam {item} {padding}")
        if item % payload.burst == 0:
            await asyncio.sleep(0.005)
    return {"logged": payload.count}


@hookimpl
def enttok_job_types() -> list[JobType]:
    return [
        JobType("testjobs.retry_after", retry_after, RetryAfterPayload, max_attempts=2),
        JobType("testjobs.hang", hang, HangPayload, max_attempts=2, timeout=TIMEOUT),
        JobType("testjobs.crash", crash, max_attempts=3),
        JobType("testjobs.limited", limited, LimitedPayload, concurrency=LIMIT),
        JobType("testjobs.blocking", blocking, BlockingPayload),
        JobType("testjobs.chatty", chatty, ChattyPayload),
        JobType("testjobs.spam", spam, SpamPayload, max_attempts=1),
    ]
