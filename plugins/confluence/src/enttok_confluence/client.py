"""Requests to a Confluence site through atlassian-python-api, and what the answers mean.

Which endpoint is called is spelled out here rather than left to the library: on Cloud the
REST API v1 lives under the site's `/wiki` (`https://x.atlassian.net/wiki/rest/api/...`),
while `Confluence(url, cloud=True)` is rooted at the v2 API, and CQL search exists only in
v1. On Server/Data Center it lives under the site's context path. Every call goes through
`client.get(..., absolute=True, advanced_mode=True)`, so the library builds the request on
our session (auth, headers) and hands back the response for us to read.

The session is the kit's (`ctx.requests_session`): it owns rate limits (a 429 re-queues the
job) and retries of 5xx and dropped connections. The library's own retry loops are off.
What is left is Confluence's vocabulary: a refused sign-in is a 401 (or an anonymous user),
a missing permission a 403, an address that is not Confluence a 404 or an HTML page. Each
becomes one sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from enttok import Account, AuthFailed, PermanentError, RetryableError

if TYPE_CHECKING:
    from atlassian import Confluence

PROVIDER = "confluence"
TIMEOUT = 30  # seconds; the library passes its own (75 by default) to every request


@dataclass(frozen=True)
class Site:
    """Where an account's Confluence REST API v1 is, and which kind of site it is."""

    url: str
    cloud: bool

    @classmethod
    def of(cls, account: Account) -> Site:
        settings = account.settings
        if settings.cloud:  # people paste https://x.atlassian.net/wiki as often as not
            return cls(settings.site_url.removesuffix("/wiki"), True)
        return cls(settings.site_url, False)

    @property
    def base(self) -> str:
        """The REST base: what `_links.base` says in Confluence's answers."""
        return self.url + "/wiki" if self.cloud else self.url

    def rest(self, path: str) -> str:
        return f"{self.base}/rest/api/{path}"

    @property
    def kind(self) -> str:
        return "Confluence Cloud" if self.cloud else "Confluence Data Center"


@dataclass(frozen=True)
class Person:
    """Who the account signs in as: the id versions are attributed to, and the name shown."""

    id: str
    name: str

    @staticmethod
    def id_of(user: dict[str, Any] | None) -> str | None:
        """A user's stable id: Cloud's accountId, Server's userKey (or, on old servers, username)."""
        if not isinstance(user, dict):
            return None
        return user.get("accountId") or user.get("userKey") or user.get("username")


def connect(account: Account, site: Site, session: requests.Session) -> Confluence:
    """The atlassian-python-api client for the account, sending through `session`."""
    from atlassian import Confluence

    token = account.secret("token") or ""
    options: dict[str, Any] = {
        "session": session,
        "cloud": site.cloud,
        "timeout": TIMEOUT,
        "backoff_and_retry": False,  # the kit's session retries and keeps the rate limit
        "retry_with_header": False,  # else it sleeps through one 429 by itself
    }
    if site.cloud:
        return Confluence(site.url, username=account.settings.email, password=token, **options)
    return Confluence(site.url, token=token, **options)


def get(
    client: Confluence,
    site: Site,
    account: Account,
    url: str,
    what: str,
    params: dict[str, Any] | None = None,
    *,
    probe: bool = False,
) -> requests.Response:
    """GET `url` (absolute); a 2xx with JSON, or the failure the answer means. `probe`: the
    first request to the site, where a 404 means the address is not Confluence at all."""
    try:
        response = client.get(url, params=params, absolute=True, advanced_mode=True)
    except RetryableError as error:  # the kit's session, out of retries
        if error.code == "upstream_unreachable":
            raise _unreachable(site) from None
        raise
    except (requests.ConnectionError, requests.Timeout):  # a plain session (the account test)
        raise _unreachable(site) from None
    except requests.RequestException as error:  # an invalid address, too many redirects
        raise PermanentError(
            f"could not ask {site.url} for {what} ({type(error).__name__}): check the account's site_url",
            code="wrong_url",
        ) from None
    explain_failure(response, site, account, what, probe=probe)
    return response


def explain_failure(
    response: requests.Response, site: Site, account: Account, what: str, *, probe: bool = False
) -> None:
    """Raise the job failure a non-2xx (or non-JSON) answer means; return for a good one."""
    status = response.status_code
    message = _message(response)
    if status == 401:
        credential = "email and API token" if site.cloud else "personal access token"
        raise AuthFailed(
            f"{site.kind} refused the account's {credential} ({message or 'Unauthorized'}): it has expired "
            f"or been revoked. Create a new token and save it in the account.",
            account_id=account.id,
        )
    if status == 403:
        raise PermanentError(
            f"the account may not read {what} on {site.url}: {message or 'Forbidden'}. Ask a Confluence "
            "administrator for the permission (Can use, and View on the spaces).",
            code="missing_permission",
        )
    if status == 404 and probe:
        raise PermanentError(
            f"{site.url} is not a Confluence site (its REST API answered 404): use "
            "https://your-domain.atlassian.net for Cloud, or the server's address with its context path "
            "(e.g. https://wiki.example.com/confluence) for Data Center.",
            code="wrong_url",
        )
    if not _is_json(response):
        raise PermanentError(
            f"{site.url} answered {what} with {_kind_of_page(response)}, not Confluence's JSON: is site_url "
            "the site's address, and is there no sign-in page (single sign-on, a proxy) in front of it?",
            code="not_json",
        )
    if status == 400:
        raise PermanentError(
            f"Confluence could not run the search for {what}: {message or 'Bad Request'}. Check the extra "
            "CQL in the plugin's settings.",
            code="bad_cql",
        )
    if status >= 500:
        raise RetryableError(
            f"Confluence answered {status} to {what}: {message}", code="upstream_unavailable"
        )
    if status >= 300:
        raise PermanentError(
            f"Confluence answered {status} to {what}: {message or response.reason}",
            code=f"confluence_{status}",
        )


def json_body(response: requests.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; a truncated or strange one is a passing failure."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableError(f"Confluence sent an unreadable answer for {what}", code="bad_page")
    return body


def current_user(client: Confluence, site: Site, account: Account) -> Person:
    """Who the credentials sign in as. Confluence may answer a refused sign-in as the
    anonymous user instead of a 401: that is a refusal too."""
    what = "the signed-in user"
    user = json_body(get(client, site, account, site.rest("user/current"), what, probe=True), what)
    person_id = Person.id_of(user)
    if user.get("type") == "anonymous" or person_id is None:
        raise AuthFailed(
            f"{site.kind} did not accept the account's credentials (it answered as an anonymous user): "
            "check the email and token, then save them in the account.",
            account_id=account.id,
        )
    return Person(person_id, str(user.get("displayName") or user.get("publicName") or person_id))


UNKNOWN_ZONE_MARGIN = timedelta(hours=12)
"""A search date read in an unknown time zone may be off by as much as the zone's offset:
without the zone, searches reach this much further back (upserts absorb the overlap)."""


def site_time_zone(client: Confluence, site: Site, account: Account) -> ZoneInfo | None:
    """The time zone Confluence reads CQL dates in: the account's setting, else (Cloud) the
    site's default from its system info; None when neither says."""
    if account.settings.time_zone:
        return ZoneInfo(account.settings.time_zone)
    if not site.cloud:
        return None
    what = "the site's settings"
    info = json_body(get(client, site, account, site.rest("settings/systemInfo"), what), what)
    try:
        return ZoneInfo(str(info.get("defaultTimeZone")))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def content_versions(
    client: Confluence, site: Site, account: Account, content_id: str, limit: int
) -> list[dict[str, Any]] | None:
    """The latest `limit` versions of a page or blog post, newest first (`by`, `when`,
    `number`), or None where the site has no such endpoint (Data Center before 8.x)."""
    url = site.rest(f"content/{content_id}/version")
    what = "the versions of a page"
    try:
        response = get(client, site, account, url, what, {"limit": limit})
    except PermanentError as error:
        if error.code in ("not_json", "confluence_404"):
            return None
        raise
    versions = json_body(response, what).get("results")
    return versions if isinstance(versions, list) else []


def server_time(response: requests.Response) -> datetime:
    """When the site answered, by its own clock (`Date`), else by ours."""
    try:
        return parsedate_to_datetime(response.headers["date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def follow(site: Site, body: dict[str, Any]) -> str | None:
    """The absolute address of the next page: `_links.next` is relative to `_links.base`
    (which, on Cloud, ends in `/wiki`; joining it to the site's host alone loses that)."""
    links = body.get("_links") or {}
    following = links.get("next")
    if not following:
        return None
    base = str(links.get("base") or site.base).rstrip("/")
    url = base + "/" + str(following).lstrip("/")
    if _origin(url) != _origin(site.url):  # the token goes wherever we follow
        raise PermanentError(
            f"Confluence linked the next page to {url.split('?')[0]}, outside {site.url}; not followed",
            code="foreign_link",
        )
    return url


def check_account(account: Account) -> dict[str, Any]:
    """`POST .../accounts/{id}/test`: the current user, signed in with the account's credentials."""
    site = Site.of(account)
    with requests.Session() as session:
        session.trust_env = False
        person = current_user(connect(account, site, session), site, account)
    return {"user": person.name, "user_id": person.id, "site": site.url, "deployment": site.kind}


def _unreachable(site: Site) -> RetryableError:
    return RetryableError(
        f"could not reach {site.kind} at {site.url}: check the account's site_url and the network",
        code="upstream_unreachable",
    )


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("message", "errorMessage"):
        if body.get(key):
            return str(body[key])
    messages = body.get("errorMessages")
    return "; ".join(map(str, messages)) if isinstance(messages, list) else ""


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _kind_of_page(response: requests.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/html":
        return "an HTML page" + (f" (from {response.url.split('?')[0]})" if response.history else "")
    return f"a {response.status_code} of {kind or 'unknown type'}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
