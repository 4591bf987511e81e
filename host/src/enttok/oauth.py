"""OAuth 2 refresh, done once and correctly: a rotated refresh token is saved the moment it
arrives, before the access token is used, so a crash right after a refresh never leaves the
account holding a refresh token the provider has already revoked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from enttok.accounts import Account
from enttok.errors import AuthFailed, RetryableError

if TYPE_CHECKING:
    import httpx


async def refresh_access_token(
    http: httpx.AsyncClient,
    account: Account,
    *,
    token_url: str = "/oauth/token",
    secret_field: str = "refresh_token",
    extra: Mapping[str, str] | None = None,
) -> str:
    """Exchange the account's refresh token for an access token (RFC 6749 section 6).

    Refreshes of one account are serialized and each reads the token as stored at that
    moment, so two jobs of one account never both spend a token only one of them may use.
    Raises AuthFailed when the provider refuses the grant (the account needs a new sign-in)
    and RetryableError when it cannot answer now.
    """
    async with account.secret_lock(secret_field):
        return await _refresh(http, account, token_url, secret_field, extra)


async def _refresh(
    http: httpx.AsyncClient,
    account: Account,
    token_url: str,
    secret_field: str,
    extra: Mapping[str, str] | None,
) -> str:
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
    tokens = response.json()
    rotated = tokens.get("refresh_token")
    if rotated and rotated != refresh_token:
        account.save_secret(secret_field, rotated)
    return tokens["access_token"]
