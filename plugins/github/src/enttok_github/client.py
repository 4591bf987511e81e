"""Requests to the GitHub REST API, and what its answers mean for a job.

The kit's client (`ctx.http`) already retries 5xx, reads `X-RateLimit-*` and `Retry-After`
and turns a 429, or a 403 with `X-RateLimit-Remaining: 0`, into `RateLimited`. What is left
is GitHub's own vocabulary: a secondary limit is a 403 (or 429) whose message says so, a
refused token a 401, a token without the scope a 403; and an address that is not the API
at all (a typo, the web site, a sign-in page in front of an Enterprise Server) answers with
a 404 or HTML. Each becomes one sentence a person can act on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from enttok import Account, AuthFailed, PermanentError, RateLimited, RetryableError

API_VERSION = "2022-11-28"
SECONDARY_LIMIT_WAIT = 60.0
"""GitHub: without `Retry-After` or a spent primary limit, wait at least a minute."""

CORE = "github"
SEARCH = "github.search"
"""Providers of the kit's rate-limit budgets: the search API counts against a budget of its
own (30 requests a minute), and spending it must not stop the other requests."""


def client_options(account: Account) -> dict[str, Any]:
    """What `ctx.http` (or a plain httpx client) needs to talk to this account's API."""
    return {
        "base_url": account.settings.api_url,
        "headers": {
            "Authorization": f"Bearer {account.secret('token')}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "enttok-github",
        },
    }


def web_url(api_url: str) -> str:
    """The web address that goes with an API address: github.com for api.github.com, the
    server itself for an Enterprise Server's /api/v3."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return "https://github.com"
    return api_url.removesuffix("/api/v3")


async def get(
    http: httpx.AsyncClient,
    url: str,
    *,
    account: Account,
    provider: str = CORE,
    params: dict[str, Any] | None = None,
    etag: str | None = None,
    allow: tuple[int, ...] = (),
) -> httpx.Response:
    """GET `url`, with `If-None-Match: etag` when given. Returns a 2xx, a 304, or a status
    in `allow`; anything else is raised as the failure it is."""
    if url.startswith(("http://", "https://")) and not url.startswith(account.settings.api_url + "/"):
        # a `Link` to another host would be sent the token: GitHub's never do
        raise PermanentError(
            f"GitHub linked to {url.split('?')[0]}, outside {account.settings.api_url}; not followed",
            code="foreign_link",
        )
    headers = {"If-None-Match": etag} if etag else {}
    try:
        response = await http.get(url, params=params, headers=headers)
    except RetryableError as error:
        if error.code == "upstream_unreachable":
            raise RetryableError(
                f"could not reach the GitHub API at {account.settings.api_url}: check the account's "
                "api_url and the network",
                code="upstream_unreachable",
            ) from None
        raise
    if response.status_code == 304 or response.status_code in allow:
        return response
    explain_failure(response, account, provider)
    if not _is_json(response):
        raise PermanentError(
            f"{account.settings.api_url} answered {response.request.url.path} with "
            f"{_kind_of_page(response)}, not the GitHub API's JSON: is api_url the API's address "
            "(https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server), "
            "and is there no sign-in page in front of it?",
            code="not_json",
        )
    return response


def explain_failure(response: httpx.Response, account: Account, provider: str) -> None:
    """Raise the job failure a non-2xx answer means; return for a 2xx."""
    status = response.status_code
    if status < 300:
        return
    message = _message(response)
    if status == 401:
        raise AuthFailed(
            f"GitHub refused the account's token ({message or 'Bad credentials'}): it has expired "
            "or been revoked. Create a new token and save it in the account.",
            account_id=account.id,
        )
    if status in (403, 429) and _is_secondary_limit(message):
        raise RateLimited(
            f"GitHub's secondary rate limit: {message}",
            retry_after=_retry_after(response),
            provider=provider,
            credential=account.id,
        )
    if status == 403:
        needed = response.headers.get("x-accepted-oauth-scopes")
        hint = f" (it needs the scope: {needed})" if needed else ""
        raise PermanentError(
            f"the token may not read {response.request.url.path}{hint}: {message or 'Forbidden'}. "
            "Give the token the permission, or create one that has it.",
            code="missing_scope",
        )
    if status == 404 and response.request.url.path.endswith("/user"):
        raise PermanentError(
            f"{account.settings.api_url} is not the GitHub API (GET /user answered 404): use "
            "https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.",
            code="wrong_url",
        )
    if not _is_json(response):
        return  # the caller says what a page of HTML means
    raise PermanentError(
        f"GitHub answered {status} to {response.request.url.path}: {message or response.reason_phrase}",
        code=f"github_{status}",
    )


def json_body(
    response: httpx.Response, what: str, shape: type[dict[str, Any]] | type[list[Any]] = dict
) -> Any:
    """The answer's JSON, when it is the `shape` GitHub documents; a truncated or strange
    answer is a passing failure (the next attempt asks again)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, shape):
        raise RetryableError(f"GitHub sent an unreadable answer for {what}", code="bad_page")
    return body


async def check_account(account: Account) -> dict[str, Any]:
    """`POST .../accounts/{id}/test`: who the token is, and the scopes a classic token has."""
    async with httpx.AsyncClient(timeout=10, trust_env=False, **client_options(account)) as http:
        try:
            response = await get(http, "/user", account=account)
        except httpx.TransportError as error:
            raise RetryableError(
                f"could not reach the GitHub API at {account.settings.api_url} ({type(error).__name__}): "
                "check the account's api_url and the network",
                code="upstream_unreachable",
            ) from None
    user = signed_in(response, account)
    scopes = response.headers.get("x-oauth-scopes")
    details: dict[str, Any] = {
        "login": user.get("login"),
        "name": user.get("name"),
        "url": user.get("html_url"),
    }
    if scopes is not None:  # classic tokens say which scopes they carry; fine-grained ones do not
        details["scopes"] = [s.strip() for s in scopes.split(",") if s.strip()]
        if "repo" not in details["scopes"]:
            details["note"] = "without the `repo` scope, private repositories are not synced"
    return details


def signed_in(response: httpx.Response, account: Account) -> dict[str, Any]:
    """The user `GET /user` describes; an answer without a login is not GitHub's."""
    user = json_body(response, "the signed-in user")
    if not isinstance(user.get("login"), str):
        raise PermanentError(
            f"{account.settings.api_url} answered GET /user without a login: it is not the GitHub API",
            code="wrong_url",
        )
    return user


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _is_secondary_limit(message: str) -> bool:
    lowered = message.lower()
    return "secondary rate limit" in lowered or "abuse detection" in lowered


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return SECONDARY_LIMIT_WAIT


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _kind_of_page(response: httpx.Response) -> str:
    if response.is_redirect:
        return f"a redirect to {response.headers.get('location', 'somewhere else')}"
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/html":
        return "an HTML page"
    return f"a {response.status_code} of {kind or 'unknown type'}"
