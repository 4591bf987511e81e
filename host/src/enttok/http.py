"""The HTTP client connectors use: timeouts, retries with backoff and jitter on 5xx and
connection errors, and one rate-limit budget per (provider, credential) owned by the host.

Every job that calls a provider with the same credential shares its budget. When the budget
is spent (a 429, or `X-RateLimit-Remaining: 0` until `X-RateLimit-Reset`), the request raises
`RateLimited` instead of sleeping: the worker puts the job back in the queue for the reset
time and announces the wait as a `ratelimit` event, and the next job with that credential
is refused before it sends anything.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

from enttok.errors import RateLimited, RetryableError
from enttok.ratelimits import RateBudget, ResponseLike, retry_after_seconds

RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_INLINE_WAIT = 10.0
"""A 5xx asking for a longer wait than this re-queues the job instead of holding a worker."""


class _Policy:
    """What the sync and async transports share: the budget, the retry loop's decisions."""

    def __init__(self, budget: RateBudget, retries: int) -> None:
        self.budget = budget
        self.retries = retries

    def outcome(self, response: ResponseLike, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None to return it.
        Raises RateLimited for a rate-limit refusal, RetryableError when retries run out."""
        wait = self.budget.observe(response)
        if wait is not None:
            raise RateLimited(
                f"{self.budget.provider} answered {response.status_code}: rate limited for {wait:.0f}s",
                retry_after=wait,
                provider=self.budget.provider,
                credential=self.budget.credential,
            )
        if response.status_code not in RETRY_STATUSES:
            return None
        asked = retry_after_seconds(response.headers.get("retry-after"))
        if attempt >= self.retries or (asked is not None and asked > MAX_INLINE_WAIT):
            raise RetryableError(
                f"{self.budget.provider} answered {response.status_code} after {attempt + 1} tries",
                retry_after=asked,
                code="upstream_unavailable",
            )
        return asked if asked is not None else _backoff(attempt)

    def failed(self, error: httpx.TransportError, attempt: int) -> float:
        if attempt >= self.retries or isinstance(error, httpx.UnsupportedProtocol):
            raise RetryableError(
                f"{self.budget.provider} unreachable after {attempt + 1} tries: {type(error).__name__}",
                code="upstream_unreachable",
            ) from error
        return _backoff(attempt)


class BudgetedAsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: _Policy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            self._policy.budget.check()
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()  # a connection dropped mid-body is retried like any other
            except httpx.TransportError as error:
                wait = self._policy.failed(error, attempt)
            else:
                wait = self._policy.outcome(response, attempt)
                if wait is None:
                    return response
            attempt += 1
            await asyncio.sleep(wait)

    async def aclose(self) -> None:
        await self._inner.aclose()


class BudgetedTransport(httpx.BaseTransport):
    def __init__(self, policy: _Policy, inner: httpx.BaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            self._policy.budget.check()
            try:
                response = self._inner.handle_request(request)
                response.read()  # a connection dropped mid-body is retried like any other
            except httpx.TransportError as error:
                wait = self._policy.failed(error, attempt)
            else:
                wait = self._policy.outcome(response, attempt)
                if wait is None:
                    return response
            attempt += 1
            time.sleep(wait)

    def close(self) -> None:
        self._inner.close()


def async_client(
    budget: RateBudget, *, retries: int = 3, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, **options: Any
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=BudgetedAsyncTransport(_Policy(budget, retries)),
        timeout=timeout,
        trust_env=False,
        **options,
    )


def sync_client(
    budget: RateBudget, *, retries: int = 3, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, **options: Any
) -> httpx.Client:
    return httpx.Client(
        transport=BudgetedTransport(_Policy(budget, retries)), timeout=timeout, trust_env=False, **options
    )


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
