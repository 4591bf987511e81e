"""OAuth 2 refresh, done once and correctly: a rotated refresh token is saved the moment it
arrives, before the access token is used, so a crash right after a refresh never leaves the
account holding a refresh token the provider has already revoked.

The access token is then kept in the host's memory until shortly before it expires, so the
next job of the account (a re-run after a rate limit, the next scheduled sync) uses it
instead of spending, and rotating, the refresh token again. It is never written anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from enttok.accounts import Account
from enttok.errors import AuthFailed, RetryableError

if TYPE_CHECKING:
    import httpx

EXPIRY_MARGIN = 60.0
"""Seconds before its `expires_in` ends that a cached access token is no longer handed out:
a request made with it must still reach the provider in time. A token that lives no longer
than this is not cached."""


@dataclass(frozen=True)
class _Cached:
    access_token: str
    obtained_at: float
    use_until: float
    """Both in `time.monotonic()` seconds."""


async def refresh_access_token(
    http: httpx.AsyncClient,
    account: Account,
    *,
    token_url: str = "/oauth/token",
    secret_field: str = "refresh_token",
    extra: Mapping[str, str] | None = None,
    force: bool = False,
) -> str:
    """An access token for the account: the one this host obtained last while it is still
    good for a while, else a new one from the refresh token (RFC 6749 section 6).

    `force=True` refreshes even so: pass it when the upstream refused the token you were
    given (a 401 mid-sync), and when a refresh is itself the check (`enttok_check_account`).
    A forced refresh that waited for another job's refresh of the account uses that one.

    Refreshes of one account are serialized and each reads the token as stored at that
    moment, so two jobs of one account never both spend a token only one of them may use.
    Raises AuthFailed when the provider refuses the grant (the account needs a new sign-in)
    and RetryableError when it cannot answer now.
    """
    asked_at = time.monotonic()
    key = (account.plugin, account.id, secret_field)
    cache = account._accounts.access_tokens
    async with account.secret_lock(secret_field):
        cached: _Cached | None = cache.get(key)
        now = time.monotonic()
        if cached is not None and now < cached.use_until and (not force or cached.obtained_at >= asked_at):
            return cached.access_token
        cache.pop(key, None)
        access_token, expires_in = await _refresh(http, account, token_url, secret_field, extra)
        if expires_in is not None and expires_in > EXPIRY_MARGIN:
            now = time.monotonic()
            cache[key] = _Cached(access_token, now, now + expires_in - EXPIRY_MARGIN)
        return access_token


async def _refresh(
    http: httpx.AsyncClient,
    account: Account,
    token_url: str,
    secret_field: str,
    extra: Mapping[str, str] | None,
) -> tuple[str, float | None]:
    refresh_token = account.reload_secret(secret_field)
    if not refresh_token:
        raise AuthFailed(f"the account has no {secret_field}; sign in first", account_id=account.id)
    response = await http.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": refresh_token, **(extra or {})}
    )
    if response.status_code in (400, 401):
        raise AuthFailed("the provider refused the refresh token; sign in again", account_id=account.id)
    if response.status_code >= 400:
        raise RetryableError(f"token refresh answered {response.status_code}", code="token_refresh_failed")
    try:
        tokens = response.json()
    except ValueError:
        tokens = None
    if not isinstance(tokens, dict) or not isinstance(tokens.get("access_token"), str):
        raise RetryableError(
            "the token endpoint answered without an access token in JSON (is the account's address right?)",
            code="token_refresh_failed",
        )
    access_token = tokens["access_token"]
    rotated = tokens.get("refresh_token")
    if rotated and rotated != refresh_token:
        account.save_secret(secret_field, rotated)
    return access_token, _seconds(tokens.get("expires_in"))


def _seconds(value: object) -> float | None:
    """`expires_in` as a number of seconds (some providers send a string), else None."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
