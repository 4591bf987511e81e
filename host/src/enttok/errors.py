"""What a job handler raises to tell the queue how its failure should be treated.

Anything else a handler raises is a permanent failure whose traceback goes to the job's
events (never to an HTTP response).
"""

from __future__ import annotations


class JobError(Exception):
    """A failure the handler understood. `code` is a stable snake_case name for the UI."""

    code = "job_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RetryableError(JobError):
    """A passing failure (a 5xx, a 429, a dropped connection): the job is queued again.

    `retry_after` (seconds) overrides the queue's exponential backoff, e.g. from an HTTP
    `Retry-After` header. When the job has no attempts left it ends `failed`.
    """

    code = "retryable"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(JobError):
    """A failure that another attempt would not fix (bad data, a missing resource)."""

    code = "permanent"


class JobCancelled(Exception):
    """Raised inside a handler by `ctx.check_cancelled()` or `ctx.sleep()` once the job is canceled."""


#: A dependency is not ready yet (a service starting, a lock held): retried with backoff.
NotReady = RetryableError


class RateLimited(RetryableError):
    """The credential's rate-limit budget is spent until `retry_after` seconds from now.

    Raised by the host's HTTP client (`JobContext.http`); the job is queued again for the
    reset time without spending an attempt, and the wait is announced as a `ratelimit` event.
    """

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, provider: str, credential: str) -> None:
        super().__init__(message, retry_after=retry_after)
        self.provider = provider
        self.credential = credential


class AuthFailed(JobError):
    """The upstream refused the account's credentials. The job fails without retries and the
    account is marked `needs_reauth` until the user signs in again."""

    code = "auth_failed"

    def __init__(self, message: str, *, account_id: str | None = None) -> None:
        super().__init__(message)
        self.account_id = account_id


def __getattr__(name: str) -> type[Exception]:
    """`QueueFull` (the queue holds its maximum of waiting jobs), raised by
    `PluginHost.submit` and answered 429 by the host when a route lets it through. Looked up
    on first use: `enttok.queue` imports this module, so importing it here would be a cycle."""
    if name == "QueueFull":
        from enttok.queue import QueueFull

        return QueueFull
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
