"""The hooks a plugin may implement. Each is optional; mark an implementation with
`@enttok.hookimpl` in the module your entry point names.

A plugin is identified by its entry-point name (`demo = "enttok_demo"` makes `demo`); its
job types are named `<plugin>.<job>` and its tables `<plugin>_<table>`. A hook that raises,
or returns something the host cannot use, marks the plugin `failed` and leaves the rest of
the host running.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from enttok.markers import hookspec

if TYPE_CHECKING:
    import sqlite3

    from pydantic import BaseModel
    from starlette.routing import BaseRoute

    from enttok.accounts import Account
    from enttok.declarations import JobType, Migration, Schedule
    from enttok.plugin_host import PluginHost


@hookspec
def enttok_api_version() -> int:
    """The plugin API version this plugin was written for (`enttok.PLUGIN_API_VERSION`).

    A plugin that targets another version than the host implements is refused, with a
    readable reason. Without this hook the current version is assumed.
    """


@hookspec
def enttok_job_types() -> Sequence[JobType]:
    """The job types this plugin runs: name, payload model, handler, attempts, timeout and
    concurrency limit."""


@hookspec
def enttok_migrations() -> Sequence[Migration]:
    """Versioned migrations that create and change this plugin's `<plugin>_*` tables."""


@hookspec
def enttok_schedules() -> Sequence[Schedule]:
    """Jobs to enqueue on a timer (interval or cron), enabled by default or not."""


@hookspec
def enttok_routes() -> Sequence[BaseRoute]:
    """Starlette routes, mounted under `/plugins/<plugin>/` behind the host's token check."""


@hookspec
def enttok_settings_model() -> type[BaseModel]:
    """A pydantic model for this plugin's settings; every field needs a default."""


@hookspec
def enttok_account_model() -> type[BaseModel]:
    """A pydantic model of one account of this connector (a site URL, a user name, a token).

    Fields annotated `SecretStr` are secrets: the host keeps them in the OS keyring and
    nowhere else. Declaring a model gives the plugin the routes
    `/plugins/<plugin>/accounts[/{account_id}[/test|/resync]]` and `JobContext.account()`.
    """


@hookspec
async def enttok_check_account(host: PluginHost, account: Account) -> dict[str, Any] | None:
    """Test an account's connection (`POST .../accounts/{id}/test`).

    Return details to show (the signed-in user, say); raise `AuthFailed` for refused
    credentials (the account becomes `needs_reauth`) or `NotReady` for a passing failure.
    """


@hookspec
def enttok_account_deleted(host: PluginHost, account_id: str, connection: sqlite3.Connection) -> None:
    """Delete what the plugin keeps for an account that the kit does not find by itself.

    `DELETE /plugins/<plugin>/accounts/{id}` already removes, in one transaction with the
    account: its sync cursors, its last sync, its timeline entries (source = the plugin) and
    the rows of every `<plugin>_*` table with an `account_id` column. This hook runs last in
    that transaction: delete the rest on `connection` (a table keyed another way, rows that
    point at the account's rows), and neither commit nor roll back. Raising cancels the
    whole deletion: the account and its data stay, and the route answers 500 with the reason.
    A plain `def`: it runs in a worker thread, inside the transaction.
    """


@hookspec
async def enttok_account_removed(host: PluginHost, account: Account) -> None:
    """Undo at the upstream what a deleted account granted: revoke its token, say.

    Called once `DELETE /plugins/<plugin>/accounts/{id}` has committed, with the account as it
    was (secrets filled in). It runs in the background, so the answer does not wait for it;
    it may take up to 30 s, and raising or running over is logged and changes nothing: the
    account and its data are gone either way. The host's own tables are
    `enttok_account_deleted`'s work.
    """


@hookspec
async def enttok_startup(host: PluginHost) -> None:
    """Called once when the host starts, after migrations, before the first job."""


@hookspec
async def enttok_shutdown(host: PluginHost) -> None:
    """Called once when the host stops, after the workers have stopped."""
