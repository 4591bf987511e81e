"""The Calendar v3 client: google-api-python-client over the kit's HTTP client.

- The discovery document is the one shipped with the library (`static_discovery=True`): no
  request at build time. `client_options["api_endpoint"]` replaces the whole base URL,
  service path included, so the setting is `.../calendar/v3/`.
- Requests go through `KitHttp`, an httplib2-shaped wrapper around `ctx.http_sync`: the SDK
  shares the account's rate-limit budget, a 429 becomes `RateLimited` and 5xx are retried
  by the kit. google-auth's `AuthorizedHttp` puts the bearer token on each request.
- Credentials are built directly with `token_uri` (`from_authorized_user_info` would ignore
  it). They hold no refresh token: a `refresh_handler` asks the kit (`enttok.oauth`) on the
  job's event loop, so the cached access token and the account's lock are shared with every
  other job of the account. A 401 makes `AuthorizedHttp` refresh, which is then forced.

Everything here blocks: it runs in the job's worker thread (`ctx.run_blocking`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httplib2
import httpx
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from enttok import AuthFailed, PermanentError, RateLimited, RetryableError

PROVIDER = "google"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}
DEFAULT_WAIT = 60.0
ASSUMED_LIFETIME = timedelta(minutes=50)
"""What google-auth is told about a token from the kit, which keeps the real expiry itself:
a token refused earlier comes back as a 401 and is refreshed then."""


class SyncTokenGone(Exception):
    """`410 Gone`: the calendar's sync token (or page token) expired; sync it in full."""


class KitHttp:
    """The part of `httplib2.Http` the SDK calls, over an `httpx.Client` of the kit."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        redirections: int = 5,
        connection_type: Any = None,
    ) -> tuple[httplib2.Response, bytes]:
        answer = self.client.request(method, uri, content=body, headers=headers)
        info = {k: v for k, v in answer.headers.items() if k not in ("content-encoding", "content-length")}
        response = httplib2.Response({**info, "status": str(answer.status_code)})
        response.reason = answer.reason_phrase
        return response, answer.content


class TokenSource:
    """google-auth's `refresh_handler`: an access token from the kit, fetched on the loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, refresh: Callable[[bool], Coroutine[Any, Any, str]]
    ) -> None:
        self._loop = loop
        self._refresh = refresh
        self._handed_out = False

    def __call__(self, request: Any, scopes: Any = None) -> tuple[str, datetime]:
        force = self._handed_out  # asked again: the token handed out was refused or ran out
        token = asyncio.run_coroutine_threadsafe(self._refresh(force), self._loop).result(timeout=120)
        self._handed_out = True
        return token, datetime.now(UTC).replace(tzinfo=None) + ASSUMED_LIFETIME


def calendar_service(
    api_endpoint: str, token_uri: str, client: tuple[str, str], tokens: TokenSource, http: httpx.Client
) -> Any:
    credentials = Credentials(
        token=None,
        token_uri=token_uri,
        client_id=client[0],
        client_secret=client[1],
        refresh_handler=tokens,
    )
    authorized = AuthorizedHttp(credentials, http=KitHttp(http))
    return build(
        "calendar",
        "v3",
        http=authorized,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": api_endpoint},
    )


def execute(request: Any, account_id: str) -> dict[str, Any]:
    """Run one SDK request; Google's errors as what they mean for the job."""
    try:
        return request.execute(num_retries=0)
    except HttpError as error:
        raise _meaning(error, account_id) from None


def _meaning(error: HttpError, account_id: str) -> Exception:
    status = error.resp.status
    reasons = _reasons(error)
    if status == 410:
        return SyncTokenGone()
    if status == 401:
        return AuthFailed("Google refused a fresh access token; sign in again", account_id=account_id)
    if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
        return RateLimited(
            f"Google Calendar's usage limit ({', '.join(sorted(reasons)) or status}); waiting",
            retry_after=_retry_after(error),
            provider=PROVIDER,
            credential=account_id,
        )
    if status >= 500:
        return RetryableError(f"Google Calendar answered {status}", code="upstream_unavailable")
    message = _message(error) or f"Google Calendar answered {status}"
    return PermanentError(f"Google Calendar refused the request: {message}", code=f"http_{status}")


def _reasons(error: HttpError) -> set[str]:
    try:
        body = json.loads(error.content)
        return {str(e.get("reason")) for e in body["error"].get("errors", [])}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def _message(error: HttpError) -> str:
    try:
        return str(json.loads(error.content)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def _retry_after(error: HttpError) -> float:
    try:
        return max(1.0, float(error.resp.get("retry-after", "")))
    except ValueError:
        return DEFAULT_WAIT
