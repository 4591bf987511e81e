"""One rate-limit budget per (provider, credential), owned by the host and shared by every
job that calls that provider with that credential.

A budget learns from each response's headers (`Retry-After`, `X-RateLimit-Remaining`,
`X-RateLimit-Reset`, in GitHub's and Atlassian's forms) and, once spent, refuses the next
request with `RateLimited` until the reset time, before anything is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from enttok.errors import RateLimited


class ResponseLike(Protocol):
    """What a budget reads of a response (httpx's and requests' both fit)."""

    status_code: int
    headers: Mapping[str, str]


class RateBudget:
    """What one provider has told us about one credential's remaining requests."""

    def __init__(self, provider: str, credential: str) -> None:
        self.provider = provider
        self.credential = credential
        self.remaining: int | None = None
        self.blocked_until = 0.0  # epoch seconds
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            wait = self.blocked_until - time.time()
        if wait > 0:
            raise RateLimited(
                f"{self.provider} rate limit for this credential resets in {wait:.0f}s",
                retry_after=wait,
                provider=self.provider,
                credential=self.credential,
            )

    def close_for(self, seconds: float) -> None:
        """Refuse requests for `seconds`: a limit learned otherwise than from a response this
        budget saw (an SDK on another HTTP library, whose handler raised `RateLimited`)."""
        with self._lock:
            self.blocked_until = max(self.blocked_until, time.time() + seconds)

    def observe(self, response: ResponseLike) -> float | None:
        """Update from the response's headers; the seconds to wait when it is a rate-limit refusal."""
        headers = response.headers
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset_at = reset_time(headers.get("x-ratelimit-reset"))
        retry_after = retry_after_seconds(headers.get("retry-after"))
        # A 403 is a limit when the budget is spent, or when it says when to come back: GitHub's
        # secondary limit is a 403 with `Retry-After` and requests to spare.
        limited = response.status_code == 429 or (
            response.status_code == 403 and (remaining == 0 or retry_after is not None)
        )
        with self._lock:
            if remaining is not None:
                self.remaining = remaining
            until = None
            if limited:
                until = time.time() + retry_after if retry_after is not None else reset_at or time.time() + 60
            elif remaining == 0 and reset_at is not None:
                until = reset_at
            if until is not None:
                self.blocked_until = max(self.blocked_until, until)
        return max(0.0, until - time.time()) if limited and until is not None else None


class RateLimits:
    """The host's budgets, one per (provider, credential), shared by every job."""

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], RateBudget] = {}
        self._lock = threading.Lock()

    def budget(self, provider: str, credential: str) -> RateBudget:
        with self._lock:
            key = (provider, credential)
            if key not in self._budgets:
                self._budgets[key] = RateBudget(provider, credential)
            return self._budgets[key]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds, or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def reset_time(value: str | None) -> float | None:
    """`X-RateLimit-Reset` as epoch seconds: GitHub sends epoch seconds, Atlassian an ISO 8601
    time (`2025-01-01T10:00Z`), some servers the seconds left."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return number if number > 1_000_000_000 else time.time() + number
