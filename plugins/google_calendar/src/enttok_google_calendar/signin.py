"""OAuth 2.0 for installed apps, as Google documents it: the authorization code flow with
PKCE (S256), a loopback redirect to this host, `access_type=offline` for a refresh token.

A sign-in in progress lives only in this process's memory, under its `state`: the PKCE
verifier, when it expires, and then its outcome for `oauth/status/{state}`. A `state` is
spent by the first callback that presents it, whatever that callback brings, so a replayed
or forged redirect finds nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from enttok_google_calendar import SCOPES, GoogleCalendarSettings

CALENDAR_SCOPE = SCOPES[-1]

if TYPE_CHECKING:
    import httpx  # imported where it is used: it costs the host's start-up most of a second

SIGN_IN_SECONDS = 600.0
"""How long a started sign-in waits for its callback; its outcome is kept as long again."""


@dataclass
class SignIn:
    state: str
    verifier: str
    redirect_uri: str
    expires: float
    outcome: dict[str, Any] = field(default_factory=lambda: {"status": "pending"})


class SignIns:
    """Sign-ins by state: started, then spent by their callback, then forgotten."""

    def __init__(self, lifetime: float = SIGN_IN_SECONDS) -> None:
        self.lifetime = lifetime
        self._by_state: dict[str, SignIn] = {}
        self._lock = threading.Lock()

    def start(self, redirect_uri: str) -> SignIn:
        now = time.monotonic()
        sign_in = SignIn(
            state=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43 to 128
            redirect_uri=redirect_uri,
            expires=now + self.lifetime,
        )
        with self._lock:
            self._forget_old(now)
            self._by_state[sign_in.state] = sign_in
        return sign_in

    def spend(self, state: str) -> SignIn | None:
        """The pending sign-in `state` names, now no longer pending; None if there is none."""
        now = time.monotonic()
        with self._lock:
            sign_in = self._by_state.get(state)
            if sign_in is None or sign_in.outcome["status"] != "pending" or now > sign_in.expires:
                return None
            sign_in.outcome = {"status": "exchanging"}
            sign_in.expires = now + self.lifetime  # the outcome stays readable this long
            return sign_in

    def outcome(self, state: str) -> dict[str, Any] | None:
        with self._lock:
            sign_in = self._by_state.get(state)
            if sign_in is None:
                return None
            if sign_in.outcome["status"] == "pending" and time.monotonic() > sign_in.expires:
                return {"status": "expired"}
            return dict(sign_in.outcome)

    def _forget_old(self, now: float) -> None:
        for state in [s for s, sign_in in self._by_state.items() if now > sign_in.expires + self.lifetime]:
            del self._by_state[state]


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    settings: GoogleCalendarSettings, client_id: str, sign_in: SignIn, login_hint: str | None
) -> str:
    query = {
        "client_id": client_id,
        "redirect_uri": sign_in.redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": sign_in.state,
        "code_challenge": challenge(sign_in.verifier),
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",  # a refresh token every time, also for an account signed in before
    }
    if login_hint:
        query["login_hint"] = login_hint
    return f"{settings.auth_uri}?{urlencode(query)}"


class SignInFailed(Exception):
    """The code exchange failed; the message is safe to show (it names no token)."""


async def exchange_code(
    settings: GoogleCalendarSettings, client: tuple[str, str], sign_in: SignIn, code: str
) -> tuple[str, str]:
    """The account's e-mail and refresh token for an authorization code."""
    import httpx

    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": sign_in.verifier,
        "redirect_uri": sign_in.redirect_uri,
        "client_id": client[0],
        "client_secret": client[1],
    }
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(settings.token_uri, data=form)
    except httpx.HTTPError as error:
        raise SignInFailed(f"Google's token endpoint could not be reached ({type(error).__name__})") from None
    if response.status_code != 200:
        raise SignInFailed(f"Google refused the sign-in ({_error_code(response)})")
    try:
        tokens = response.json()
    except ValueError:
        raise SignInFailed("Google's token endpoint answered without JSON") from None
    refresh_token = tokens.get("refresh_token") if isinstance(tokens, dict) else None
    if not refresh_token:
        raise SignInFailed("Google sent no refresh token (was access_type=offline dropped?)")
    if CALENDAR_SCOPE not in str(tokens.get("scope", "")).split():
        raise SignInFailed("calendar access was not granted (tick it on Google's consent page)")
    email = email_of(tokens.get("id_token"))
    if email is None:
        raise SignInFailed("Google's answer named no e-mail address (the email scope is needed)")
    return email, refresh_token


def email_of(id_token: object) -> str | None:
    """The `email` claim of an ID token. Google's documentation allows reading it unverified
    when it comes straight from its token endpoint over TLS, as here."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    claims_part = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    except ValueError:
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) and "@" in email else None


class RevokeFailed(Exception):
    """Google did not confirm the revocation; the message is safe to show."""


async def revoke(settings: GoogleCalendarSettings, token: str) -> None:
    """Ask Google to revoke the grant the token belongs to (one already revoked is fine)."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(settings.revoke_uri, data={"token": token})
    except httpx.HTTPError as error:
        raise RevokeFailed(f"Google could not be reached to revoke ({type(error).__name__})") from None
    if response.status_code != 200 and _error_code(response) != "invalid_token":
        raise RevokeFailed(f"Google did not revoke the grant ({_error_code(response)}); try again")


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    return (
        error
        if isinstance(error, str) and error.replace("_", "").isalnum()
        else f"HTTP {response.status_code}"
    )
