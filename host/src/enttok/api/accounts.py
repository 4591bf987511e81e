"""`/plugins/<plugin>/accounts`: the account routes every connector with an account model gets.

Secrets go in through these routes and never come out: an account is shown with
`"secrets": {"<field>": {"is_set": bool}}`, and with its `last_sync`.

A test that fails answers as a test does, `{"ok": false, "reason": ...}` with a sentence a
person can act on, whatever the plugin's check raised: a refused connection, a timeout, an
HTML page where JSON was expected.

The accounts' writes open connections of their own, which wait for a write lock held
elsewhere: every write here runs in a thread (`off_loop`), so other requests go on meanwhile,
and one that waits out the write timeout answers 503 `database_busy` with Retry-After, as a
job submission does. Events go through the loop's connection, patiently (`write_patiently`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.routing import Route

from enttok.accounts import Account, AccountExists, AccountNotFound
from enttok.api import inputs
from enttok.api.errors import ApiError, invalid
from enttok.api.models import Strict
from enttok.api.openapi import documented
from enttok.api.responses import JSONResponse
from enttok.errors import AuthFailed, JobError, RetryableError
from enttok.host import Host
from enttok.queue import JobAlreadyEnded, JobNotFound
from enttok.secrets import SecretsUnavailable
from enttok.store_faults import DatabaseBusy, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

CHECK_TIMEOUT = 20.0
REMOVED_TIMEOUT = 30.0
ACCOUNT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"


class AccountCreate(Strict):
    account_id: str = Field(
        pattern=ACCOUNT_ID, description="Your name for the account, unique in the plugin."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Fields of the plugin's account model."
    )


class AccountUpdate(Strict):
    settings: dict[str, Any] = Field(description="Fields to change; secret fields left out stay as stored.")


class LastSync(BaseModel):
    job_id: str = Field(description="The sync job that ended last.")
    status: str = Field(description="How it ended: succeeded, failed or canceled.")
    finished_at: str
    items: int = Field(description="What its pages committed: rows plus timeline entries.")
    rows: int = Field(description="Rows written to the plugin's tables.")
    activity: int = Field(description="Timeline entries written.")
    error: dict[str, Any] | None = Field(description="Its error (code, message, retryable), if it failed.")


class AccountView(BaseModel):
    account_id: str
    status: str
    status_reason: str | None
    settings: dict[str, Any]
    secrets: dict[str, dict[str, bool]]
    created_at: str
    updated_at: str
    last_sync: LastSync | None = Field(
        description="The account's last sync job that ended; null before one has."
    )


class AccountListView(BaseModel):
    accounts: list[AccountView]


class DeletedView(BaseModel):
    account_id: str
    deleted: bool
    removed: dict[str, int] = Field(description="Rows removed, per table.")
    canceled_jobs: list[str] = Field(description="The account's queued or running jobs, canceled.")


class CheckResult(BaseModel):
    ok: bool
    reason: str | None = Field(None, description="Why the test failed, in a sentence; null when it passed.")
    checked: bool = Field(description="False when the plugin has no enttok_check_account hook.")
    status: str
    details: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def account_routes(plugin: str) -> list[Route]:
    def host_of(request: Request) -> Host:
        return request.app.state.host

    def guarded(action: Callable[[Request, Host], Awaitable[JSONResponse]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                return await action(request, host_of(request))
            except AccountNotFound:
                account_id = request.path_params.get("account_id")
                raise ApiError(404, "account_not_found", f"{plugin} has no account {account_id!r}.") from None
            except SecretsUnavailable as error:
                raise ApiError(503, "secrets_unavailable", f"{error}.") from None

        endpoint.__doc__ = action.__doc__
        endpoint.__openapi__ = getattr(action, "__openapi__", None)  # type: ignore[attr-defined]
        return endpoint

    @documented("List accounts", response=AccountListView)
    async def list_accounts(request: Request, host: Host) -> JSONResponse:
        return JSONResponse({"accounts": host.accounts.list(plugin)})

    @documented(
        "Add an account", body=AccountCreate, response=AccountView, status=201, errors=(409, 422, 503, 507)
    )
    async def create_account(request: Request, host: Host) -> JSONResponse:
        change = await inputs.body(request, AccountCreate)
        try:
            settings = host.accounts.models[plugin].model_validate(change.settings)
        except ValidationError as error:
            raise invalid(error, ("settings",)) from None
        try:
            await off_loop(host, host.accounts.create, plugin, change.account_id, settings)
        except AccountExists:
            raise ApiError(
                409, "account_exists", f"{plugin} already has account {change.account_id!r}."
            ) from None
        return JSONResponse(host.accounts.public(plugin, change.account_id), status_code=201)

    @documented("Read an account", response=AccountView, errors=(404,))
    async def get_account(request: Request, host: Host) -> JSONResponse:
        return JSONResponse(host.accounts.public(plugin, request.path_params["account_id"]))

    @documented("Change an account", body=AccountUpdate, response=AccountView, errors=(404, 422, 503, 507))
    async def update_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        change = await inputs.body(request, AccountUpdate)
        try:
            await off_loop(host, host.accounts.update, plugin, account_id, change.settings)
        except ValidationError as error:
            raise invalid(error, ("settings",)) from None
        return JSONResponse(host.accounts.public(plugin, account_id))

    @documented(
        "Delete an account with its secrets, cursors, timeline entries and synced rows",
        response=DeletedView,
        errors=(404, 500, 503, 507),
    )
    async def delete_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        if not await asyncio.to_thread(host.accounts.exists, plugin, account_id):
            raise AccountNotFound(account_id)
        others = [name for name in host.plugins.records if name != plugin]
        on_removed = host.plugins.implementation(host.plugins.records[plugin], "enttok_account_removed")
        as_it_was = await asyncio.to_thread(host.accounts.load, plugin, account_id) if on_removed else None
        try:
            removed = await off_loop(
                host,
                host.accounts.delete,
                plugin,
                account_id,
                cleanup=_plugin_cleanup(host, plugin, account_id),
                other_plugins=others,
            )
        except (AccountNotFound, SecretsUnavailable, StoreUnavailable):
            raise
        except Exception as error:
            log.exception("plugin %s: deleting account %s failed", plugin, account_id)
            raise ApiError(
                500,
                "account_delete_failed",
                f"{plugin} could not delete what it keeps for account {account_id!r}"
                f" ({type(error).__name__}: {error}); the account and its data were kept.",
            ) from None
        canceled = await _cancel_jobs_of(host, plugin, account_id)
        if on_removed is not None and as_it_was is not None:
            _in_background(_after_removal(host, plugin, on_removed, as_it_was))
        body = {"account_id": account_id, "deleted": True, "removed": removed, "canceled_jobs": canceled}
        return JSONResponse(body)

    @documented("Test the account's connection", response=CheckResult, errors=(404, 503, 507))
    async def check_account(request: Request, host: Host) -> JSONResponse:
        account = await asyncio.to_thread(host.accounts.load, plugin, request.path_params["account_id"])
        check = host.plugins.implementation(host.plugins.records[plugin], "enttok_check_account")
        if check is None:  # nothing to test with: the account's status stays as it is
            reason = f"{plugin} has no way to test an account."
            body = {"ok": False, "reason": reason, "status": account.status}
            return JSONResponse({**body, "details": None, "error": None, "checked": False})
        status, details, error = "active", None, None
        try:
            result = check(host=host.plugin_host(plugin), account=account)
            if inspect.isawaitable(result):
                async with asyncio.timeout(CHECK_TIMEOUT):
                    result = await result
            details = result
        except AuthFailed as failure:
            status, error = (
                "needs_reauth",
                {"code": failure.code, "message": failure.message, "retryable": False},
            )
        except Exception as failure:
            code, message, retryable = explain_failure(failure)
            if code == "check_error":
                log.warning("plugin %s: the account check raised", plugin, exc_info=failure)
            status, error = account.status, {"code": code, "message": message, "retryable": retryable}
        reason = error["message"] if error else None
        if status != account.status or status == "needs_reauth":
            await off_loop(host, host.accounts.set_status, plugin, account.id, status, reason)
            await host.database.write_patiently(
                lambda: host.bus.emit("account.status", plugin=plugin, account_id=account.id, status=status)
            )
        body = {"ok": error is None, "reason": reason, "status": status, "details": details}
        return JSONResponse({**body, "error": error, "checked": True})

    @documented("Full resync: forget the account's sync cursors", errors=(404, 503, 507))
    async def resync_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        cleared = await off_loop(host, host.accounts.reset_cursor, plugin, account_id)
        return JSONResponse({"account_id": account_id, "cursors_cleared": cleared})

    return [
        Route("/accounts", guarded(list_accounts), methods=["GET"]),
        Route("/accounts", guarded(create_account), methods=["POST"]),
        Route("/accounts/{account_id}", guarded(get_account), methods=["GET"]),
        Route("/accounts/{account_id}", guarded(update_account), methods=["PATCH"]),
        Route("/accounts/{account_id}", guarded(delete_account), methods=["DELETE"]),
        Route("/accounts/{account_id}/test", guarded(check_account), methods=["POST"]),
        Route("/accounts/{account_id}/resync", guarded(resync_account), methods=["POST"]),
    ]


def _plugin_cleanup(host: Host, plugin: str, account_id: str) -> Callable[[Any], None] | None:
    """The plugin's `enttok_account_deleted`, bound to the account, for `Accounts.delete`."""
    hook = host.plugins.implementation(host.plugins.records[plugin], "enttok_account_deleted")
    if hook is None:
        return None

    def cleanup(connection: Any) -> None:
        result = hook(host=host.plugin_host(plugin), account_id=account_id, connection=connection)
        if inspect.isawaitable(result):
            with contextlib.suppress(Exception):
                result.close()  # type: ignore[attr-defined]
            raise TypeError("enttok_account_deleted must be a plain def: it runs inside the transaction")

    return cleanup


async def off_loop(host: Host, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`write(*args, **kwargs)` in a thread, where its connection may wait for the write lock
    without holding up the event loop. A lock held past that wait raises `DatabaseBusy`
    (503 with Retry-After), and the host's health says so until a write succeeds again."""
    try:
        return await asyncio.to_thread(write, *args, **kwargs)
    except DatabaseBusy as error:
        host.database.report_busy(error)
        raise


async def _cancel_jobs_of(host: Host, plugin: str, account_id: str) -> list[str]:
    """Cancel the plugin's queued and running jobs for the deleted account: a sync left
    running would go on writing rows for an account that no longer exists. A queued job the
    database will not cancel now is left to fail when it runs (`account_not_found`)."""
    rows = host.database.connection.execute(
        "SELECT job_id FROM jobs WHERE status IN ('queued', 'running') AND substr(type, 1, length(?)) = ?"
        " AND json_valid(payload_json) AND json_extract(payload_json, '$.account_id') = ?",
        (f"{plugin}.", f"{plugin}.", account_id),
    ).fetchall()
    canceled = []
    for (job_id,) in rows:
        try:
            await host.database.write_patiently(functools.partial(host.cancel, job_id))
        except (JobNotFound, JobAlreadyEnded):
            continue
        except StoreUnavailable as error:
            log.warning("job %s of deleted %s account %s not canceled: %s", job_id, plugin, account_id, error)
            continue
        canceled.append(job_id)
    return canceled


async def _after_removal(host: Host, plugin: str, hook: Callable[..., Any], account: Account) -> None:
    """`enttok_account_removed`, which nothing waits for: its failure is only logged."""
    try:
        async with asyncio.timeout(REMOVED_TIMEOUT):
            await hook(host=host.plugin_host(plugin), account=account)
    except TimeoutError:
        log.warning(
            "plugin %s: enttok_account_removed for %s took over %gs", plugin, account.id, REMOVED_TIMEOUT
        )
    except Exception:
        log.exception("plugin %s: enttok_account_removed for %s failed", plugin, account.id)


_background: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` on the loop, held here until it ends (the loop keeps only weak references)."""
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def explain_failure(failure: BaseException) -> tuple[str, str, bool]:
    """A failed account check as (code, a sentence a person can act on, retryable).

    The HTTP libraries are recognised only when a plugin has imported them already: the
    host imports no client for this."""
    if isinstance(failure, JobError):
        return failure.code, failure.message, isinstance(failure, RetryableError)
    httpx = sys.modules.get("httpx")
    requests = sys.modules.get("requests")
    timeouts = tuple(
        kind
        for kind in (
            TimeoutError,
            getattr(httpx, "TimeoutException", None),
            getattr(requests, "Timeout", None),
        )
        if kind is not None
    )
    unreachable = tuple(
        kind
        for kind in (
            ConnectionError,
            getattr(httpx, "ConnectError", None),
            getattr(httpx, "NetworkError", None),
            getattr(requests, "ConnectionError", None),
        )
        if kind is not None
    )
    status_error = getattr(httpx, "HTTPStatusError", None)
    requests_http_error = getattr(requests, "HTTPError", None)
    if isinstance(failure, timeouts):
        return "timeout", "The service did not answer in time; try again later, or check the address.", True
    if isinstance(failure, unreachable):
        return (
            "unreachable",
            f"Could not connect to the service ({_cause(failure)}); check the account's address.",
            True,
        )
    if status_error is not None and isinstance(failure, status_error):
        return "upstream_error", f"The service answered HTTP {failure.response.status_code}.", False
    if requests_http_error is not None and isinstance(failure, requests_http_error):
        status = getattr(getattr(failure, "response", None), "status_code", "an error")
        return "upstream_error", f"The service answered HTTP {status}.", False
    if isinstance(failure, json.JSONDecodeError | ValueError) and "json" in type(failure).__name__.lower():
        return (
            "not_json",
            "The service answered with something that is not JSON (a login page or a proxy?);"
            " check the account's address.",
            False,
        )
    return "check_error", f"The check failed ({type(failure).__name__}); see the host log.", False


def _cause(failure: BaseException) -> str:
    """The innermost reason of a connection failure, e.g. `Connection refused`."""
    while failure.__cause__ is not None or failure.__context__ is not None:
        failure = failure.__cause__ or failure.__context__  # type: ignore[assignment]
    text = getattr(failure, "strerror", None) or str(failure) or type(failure).__name__
    return text.strip()[:200]
