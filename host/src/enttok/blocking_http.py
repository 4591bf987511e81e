"""A `requests.Session` on the host's rate-limit budget, for blocking SDKs built on requests
(atlassian-python-api): `JobContext.requests_session(provider, credential)`.

It keeps the promises `ctx.http` makes, so such an SDK shares one budget per (provider,
credential) with every other job: a closed budget refuses the request before it is sent,
every response (redirects included) feeds `RateBudget.observe`, and a 429 raises
`RateLimited`, which re-queues the job for the reset instead of sleeping in a worker. 5xx
and connection errors are retried a few times with backoff, as `ctx.http` does; requests
has no timeout of its own, so one is set when the caller gives none.

This module imports requests; the host imports it only when a job asks for a session.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from enttok.errors import RetryableError
from enttok.http import _backoff, _Policy
from enttok.ratelimits import RateBudget

_DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
"""No answer, or one cut off mid-body: retried like any other dropped connection."""
DEFAULT_TIMEOUT = (10.0, 30.0)
"""Seconds to connect, and to wait for each read: `ctx.http`'s timeouts."""


class BudgetedSession(requests.Session):
    """A session whose every send is checked against, and reported to, one budget."""

    def __init__(
        self, budget: RateBudget, *, retries: int = 3, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT
    ) -> None:
        super().__init__()
        self.trust_env = False  # like ctx.http: no proxies or .netrc from the environment
        self._policy = _Policy(budget, retries)
        self._timeout = timeout
        # requests retries nothing by default; mounted afresh so no SDK's retrying adapter remains
        self.mount("https://", HTTPAdapter(max_retries=0))
        self.mount("http://", HTTPAdapter(max_retries=0))

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        attempt = 0
        while True:
            self._policy.budget.check()
            try:
                response = super().send(request, **kwargs)
            except _DROPPED as error:
                wait = self._unreachable(error, attempt)
            else:
                wait = self._policy.outcome(response, attempt)
                if wait is None:
                    return response
                response.close()
            attempt += 1
            time.sleep(wait)

    def _unreachable(self, error: requests.RequestException, attempt: int) -> float:
        if attempt >= self._policy.retries:
            raise RetryableError(
                f"{self._policy.budget.provider} unreachable after {attempt + 1} tries: {type(error).__name__}",
                code="upstream_unreachable",
            ) from error
        return _backoff(attempt)


def requests_session(budget: RateBudget, **options: Any) -> requests.Session:
    """`options`: `retries` (3) and `timeout` (seconds, or (connect, read)); anything else is
    set on the session (`headers`, `auth`, `verify`...)."""
    settings = {name: options.pop(name) for name in ("retries", "timeout") if name in options}
    session = BudgetedSession(budget, **settings)
    for name, value in options.items():
        if not hasattr(session, name):
            raise TypeError(f"requests_session() got an unexpected option {name!r}")
        if name == "headers":
            session.headers.update(value)
        else:
            setattr(session, name, value)
    return session
