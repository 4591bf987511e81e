"""Requests to Jira through atlassian-python-api, and what its answers mean for a job.

Everything here is blocking and runs in a worker thread. The SDK builds the URLs and signs
in (basic auth with email + API token on Cloud, a bearer personal access token on
Server/Data Center); it is given the kit's budgeted `requests.Session`, its own retries are
switched off (`backoff_and_retry=False`, `retry_with_header=False`: it would otherwise sleep
through a 429 once by itself), and it hands back raw responses (`advanced_mode=True`) so
each answer is read here: a refused token, a missing permission, a site that is not Jira,
an HTML sign-in page, Cloud's `410 Gone` on the classic search. Each becomes one sentence a
person can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from enttok import Account, AuthFailed, JobContext, PermanentError, RetryableError

if TYPE_CHECKING:
    import requests
    from atlassian import Jira

PROVIDER = "jira"
"""The kit's rate-limit budget: one per (jira, account id)."""
TIMEOUT = 30
FIELDS = "summary,status,issuetype,project,assignee,reporter,creator,created,updated,comment"
CHECK_TIMEOUT = 10
"""`/test` runs within the request's 20 s."""
SDK_OPTIONS: dict[str, Any] = {
    "advanced_mode": True,
    "backoff_and_retry": False,
    "retry_with_header": False,
}


@dataclass(frozen=True)
class Person:
    """The signed-in user: how Jira names them in issues, and their profile's time zone,
    in which Jira reads the dates of a JQL query."""

    ids: frozenset[str]
    display_name: str
    time_zone: ZoneInfo

    def is_me(self, user: dict[str, Any] | None) -> bool:
        return bool(user) and user_id(user) in self.ids


@dataclass(frozen=True)
class SearchPage:
    issues: list[dict[str, Any]]
    following: str | int | None
    """Cloud's `nextPageToken` or Server's next `startAt`; None on the last page."""


def open_jira(ctx: JobContext, account: Account) -> Jira:
    """The SDK client on the kit's budgeted session for this account."""
    return _jira(account, ctx.requests_session(PROVIDER, account.id))


def _jira(account: Account, session: requests.Session, timeout: int = TIMEOUT) -> Jira:
    from atlassian import Jira

    settings = account.settings
    token = account.secret("token") or ""
    if settings.cloud:
        return Jira(
            settings.site_url,
            username=settings.email,
            password=token,
            cloud=True,
            api_version=3,
            session=session,
            timeout=timeout,
            **SDK_OPTIONS,
        )
    return Jira(
        settings.site_url, token=token, api_version=2, session=session, timeout=timeout, **SDK_OPTIONS
    )


def check_account(account: Account) -> dict[str, Any]:
    """`POST .../accounts/{id}/test`: who the account signs in as. Outside a job there is no
    budget to share: a plain session, with the same timeouts and no retries."""
    import requests

    session = requests.Session()
    session.trust_env = False
    with session:
        me = signed_in(_jira(account, session, CHECK_TIMEOUT), account)
    return {
        "display_name": me.display_name,
        "time_zone": str(me.time_zone),
        "deployment": "cloud" if account.settings.cloud else "server",
    }


def signed_in(jira: Jira, account: Account) -> Person:
    """`GET /myself`: who the token is, and their time zone."""
    with _reachable(account):
        response = jira.myself()
    body = json_body(response, account, "GET /myself")
    ids = {body.get(k) for k in ("accountId", "key", "name")} - {None}
    if not ids:
        raise PermanentError(
            f"{account.settings.site_url} answered /myself without a user: it is not a Jira site",
            code="wrong_url",
        )
    try:
        zone = ZoneInfo(body.get("timeZone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return Person(frozenset(map(str, ids)), str(body.get("displayName") or next(iter(ids))), zone)


def search(jira: Jira, account: Account, jql: str, page_size: int, following: str | int | None) -> SearchPage:
    """One page of issues matching `jql`, with their changelog and comments: Cloud through
    `/rest/api/3/search/jql` and `nextPageToken`, Server/Data Center through the classic
    `/rest/api/2/search` and `startAt` (Cloud answers that one `410 Gone`)."""
    with _reachable(account):
        if account.settings.cloud:
            token = str(following) if following is not None else None
            response = jira.enhanced_jql(
                jql, fields=FIELDS, nextPageToken=token, limit=page_size, expand="changelog"
            )
        else:
            start = int(following or 0)
            response = jira.jql(jql, fields=FIELDS, start=start, limit=page_size, expand="changelog")
    body = json_body(response, account, "a page of search results")
    issues = body.get("issues")
    if not isinstance(issues, list):
        raise RetryableError("Jira sent search results without issues", code="bad_page")
    for issue in issues:
        complete(jira, account, issue)
    if account.settings.cloud:
        token = body.get("nextPageToken")
        return SearchPage(issues, None if body.get("isLast") or not token else token)
    start, total = int(body.get("startAt", 0)), body.get("total")
    end = start + len(issues)
    more = bool(issues) and (end < total if isinstance(total, int) else len(issues) >= page_size)
    return SearchPage(issues, end if more else None)


def complete(jira: Jira, account: Account, issue: dict[str, Any]) -> None:
    """Search results carry only the first comments and changelog entries of a busy issue
    (`total` says how many there are): fetch the rest, so no comment or status change of the
    person is missed."""
    fields = issue.setdefault("fields", {})
    comments = fields.get("comment") or {}
    if int(comments.get("total") or 0) > len(comments.get("comments") or []):
        fields["comment"] = {"comments": _paged(jira, account, f"issue/{issue['id']}/comment", "comments")}
    changelog = issue.get("changelog") or {}
    if int(changelog.get("total") or 0) > len(changelog.get("histories") or []):
        if account.settings.cloud:
            histories = _paged(jira, account, f"issue/{issue['id']}/changelog", "values")
        else:  # Server/Data Center sends the whole changelog with the issue
            with _reachable(account):
                response = jira.get(
                    jira.resource_url(f"issue/{issue['id']}"),
                    params={"expand": "changelog", "fields": "none"},
                )
            histories = (json_body(response, account, "an issue's changelog").get("changelog") or {}).get(
                "histories"
            ) or []
        issue["changelog"] = {"histories": histories}


def _paged(jira: Jira, account: Account, resource: str, items: str) -> list[dict[str, Any]]:
    """Every item of a `startAt`-paged resource of the issue."""
    found: list[dict[str, Any]] = []
    while True:
        with _reachable(account):
            response = jira.get(
                jira.resource_url(resource), params={"startAt": len(found), "maxResults": 100}
            )
        body = json_body(response, account, f"GET {resource}")
        page = body.get(items) or []
        found += page
        total = body.get("total")
        if not page or body.get("isLast") or (isinstance(total, int) and len(found) >= total):
            return found


def json_body(response: requests.Response, account: Account, what: str) -> dict[str, Any]:
    """The answer's JSON object, or the failure the answer means."""
    explain_failure(response, account)
    if not _is_json(response):
        raise PermanentError(
            f"{account.settings.site_url} answered {what} with {_kind_of_page(response)}, not Jira's JSON:"
            " is site_url the Jira site's address, with no sign-in page (single sign-on, a proxy) in front of it?",
            code="not_json",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableError(f"Jira sent an unreadable answer to {what}", code="bad_page")
    return body


def explain_failure(response: requests.Response, account: Account) -> None:
    """Raise the job failure a non-2xx answer means; return for a 2xx."""
    status = response.status_code
    if status < 300:
        return
    site, message = account.settings.site_url, _message(response)
    path = response.request.path_url.split("?")[0] if response.request else ""
    if status == 401:
        what = "API token" if account.settings.cloud else "personal access token"
        raise AuthFailed(
            f"Jira at {site} refused the account's {what} (it has expired, been revoked, or does not match"
            " the email): create a new one and save it in the account.",
            account_id=account.id,
        )
    if status == 403:
        raise PermanentError(
            f"Jira at {site} does not let this account read {path} ({message or 'Forbidden'}): ask a"
            " Jira administrator for the permission (Browse projects), or sign in as a user who has it.",
            code="missing_permission",
        )
    if status == 410 and not account.settings.cloud:
        raise PermanentError(
            f"{site} is Jira Cloud, which has retired the classic search: add your Atlassian email to"
            " the account and use an API token, so it syncs as Cloud.",
            code="cloud_site",
        )
    if status == 404 and path.endswith("/myself"):
        raise PermanentError(
            f"{site} is not a Jira site (GET {path} answered 404): use the address you open Jira at,"
            " such as https://YOUR-DOMAIN.atlassian.net.",
            code="wrong_url",
        )
    if status == 429:  # only outside a job: in one, the kit's session has raised RateLimited
        raise RetryableError(
            f"Jira at {site} is rate limiting this account: try again shortly", code="rate_limited"
        )
    if status == 400:
        raise PermanentError(
            f"Jira refused the search ({message or 'Bad Request'}): check the JQL in the plugin's settings.",
            code="bad_jql",
        )
    if not _is_json(response):
        return  # the caller says what a page of HTML means
    raise PermanentError(
        f"Jira answered {status} to {path}: {message or response.reason}", code=f"jira_{status}"
    )


@contextmanager
def _reachable(account: Account) -> Iterator[None]:
    """A connection that could not be made, in words: the site's address or the network."""
    import requests

    try:
        yield
    except RetryableError as error:
        if error.code != "upstream_unreachable":
            raise
        raise RetryableError(
            f"could not reach Jira at {account.settings.site_url}: check the account's site_url and the network",
            code="upstream_unreachable",
        ) from None
    except (requests.ConnectionError, requests.Timeout):
        raise RetryableError(
            f"could not reach Jira at {account.settings.site_url}: check the account's site_url and the network",
            code="upstream_unreachable",
        ) from None


def user_id(user: dict[str, Any]) -> str | None:
    """Cloud names people by `accountId`, Server/Data Center by `key` (or `name`)."""
    found = user.get("accountId") or user.get("key") or user.get("name")
    return str(found) if found is not None else None


def parse_time(text: str) -> datetime:
    """Jira's times: `2024-01-15T14:30:12.345+0100`."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages += [str(v) for v in errors.values()]
    return "; ".join(messages) or str(body.get("message", ""))


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _kind_of_page(response: requests.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/html":
        return "an HTML page"
    return f"a {response.status_code} of {kind or 'unknown type'}"
