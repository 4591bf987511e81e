"""`/plugins/<plugin>/accounts`: the account routes every connector with an account model gets.

Secrets go in through these routes and never come out: an account is shown with
`"secrets": {"<field>": {"is_set": bool}}`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok.accounts import AccountExists, AccountNotFound
from enttok.api import inputs
from enttok.api.errors import ApiError, invalid
from enttok.api.models import Strict
from enttok.api.openapi import documented
from enttok.errors import AuthFailed, JobError, RetryableError
from enttok.host import Host
from enttok.secrets import SecretsUnavailable

CHECK_TIMEOUT = 20.0
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


class AccountView(BaseModel):
    account_id: str
    status: str
    status_reason: str | None
    settings: dict[str, Any]
    secrets: dict[str, dict[str, bool]]
    created_at: str
    updated_at: str


class AccountListView(BaseModel):
    accounts: list[AccountView]


class CheckResult(BaseModel):
    ok: bool
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
        "Add an account", body=AccountCreate, response=AccountView, status=201, errors=(409, 422, 503)
    )
    async def create_account(request: Request, host: Host) -> JSONResponse:
        change = await inputs.body(request, AccountCreate)
        try:
            settings = host.accounts.models[plugin].model_validate(change.settings)
        except ValidationError as error:
            raise invalid(error, ("settings",)) from None
        try:
            await asyncio.to_thread(host.accounts.create, plugin, change.account_id, settings)
        except AccountExists:
            raise ApiError(
                409, "account_exists", f"{plugin} already has account {change.account_id!r}."
            ) from None
        return JSONResponse(host.accounts.public(plugin, change.account_id), status_code=201)

    @documented("Read an account", response=AccountView, errors=(404,))
    async def get_account(request: Request, host: Host) -> JSONResponse:
        return JSONResponse(host.accounts.public(plugin, request.path_params["account_id"]))

    @documented("Change an account", body=AccountUpdate, response=AccountView, errors=(404, 422, 503))
    async def update_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        change = await inputs.body(request, AccountUpdate)
        try:
            await asyncio.to_thread(host.accounts.update, plugin, account_id, change.settings)
        except ValidationError as error:
            raise invalid(error, ("settings",)) from None
        return JSONResponse(host.accounts.public(plugin, account_id))

    @documented("Delete an account, its secrets and its sync cursors", errors=(404,))
    async def delete_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        await asyncio.to_thread(host.accounts.delete, plugin, account_id)
        return JSONResponse({"account_id": account_id, "deleted": True})

    @documented("Test the account's connection", response=CheckResult, errors=(404,))
    async def check_account(request: Request, host: Host) -> JSONResponse:
        account = await asyncio.to_thread(host.accounts.load, plugin, request.path_params["account_id"])
        check = host.plugins.implementation(host.plugins.records[plugin], "enttok_check_account")
        if check is None:
            body = {"ok": False, "status": account.status, "details": None, "error": None, "checked": False}
            return JSONResponse(body)  # nothing to test with: the account's status stays as it is
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
        except (JobError, TimeoutError) as failure:
            message = getattr(failure, "message", f"no answer in {CHECK_TIMEOUT:g}s")
            retryable = isinstance(failure, RetryableError | TimeoutError)
            status, error = (
                account.status,
                {"code": getattr(failure, "code", "timeout"), "message": message, "retryable": retryable},
            )
        if status != account.status or status == "needs_reauth":
            host.accounts.set_status(plugin, account.id, status, error["message"] if error else None)
            host.bus.emit("account.status", plugin=plugin, account_id=account.id, status=status)
        return JSONResponse(
            {"ok": error is None, "status": status, "details": details, "error": error, "checked": True}
        )

    @documented("Full resync: forget the account's sync cursors", errors=(404,))
    async def resync_account(request: Request, host: Host) -> JSONResponse:
        account_id = request.path_params["account_id"]
        cleared = await asyncio.to_thread(host.accounts.reset_cursor, plugin, account_id)
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
