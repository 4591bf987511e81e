"""`create_app`: the Starlette app around a `Host`, its lifespan starting and stopping it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from enttok.api import errors, jobs, stream, system
from enttok.api.accounts import account_routes
from enttok.api.security import GuardMiddleware
from enttok.host import Host
from enttok.plugins import PluginRecord


def create_app(host: Host) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A secret store that cannot be opened is logged at start and shown in /status.
        host.secrets.check()
        await host.start()
        _unmount_failed_plugins(app, host)
        try:
            yield
        finally:
            await host.stop()

    # Starlette tries the routes in order, about half a microsecond each: the app's probes
    # and the job routes, which carry nearly all the traffic, come first.
    routes: list[BaseRoute] = [*system.probes, *jobs.routes, *system.routes, *stream.routes]
    for record in host.plugins.loaded:
        plugin_routes = [*(account_routes(record.name) if record.account_model else []), *record.routes]
        if plugin_routes:
            routes.append(Mount(f"/plugins/{record.name}", routes=plugin_routes))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                GuardMiddleware,
                token=host.config.token,
                allowed_origins=host.config.allowed_origins,
                public_paths=_public_plugin_paths(host),
            )
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # `/status/` is a 404 like any unknown path, not a redirect
    app.state.host = host
    app.state.openapi = None
    return app


def _public_plugin_paths(host: Host) -> list[str]:
    """The plugin routes marked `documented(..., public=True)`: reached without the token (an
    OAuth callback opened by the system browser), still behind the Host and Origin checks.
    Only a fixed path can be one: a path with parameters would open a family of URLs."""
    return [
        f"/plugins/{record.name}{route.path}"
        for record in host.plugins.loaded
        for route in record.routes
        if isinstance(route, Route)
        and "{" not in route.path
        and (getattr(route.endpoint, "__openapi__", None) or {}).get("public")
    ]


def _unmount_failed_plugins(app: Starlette, host: Host) -> None:
    """The routes of a plugin whose start-up failed (known only once the app exists) would run
    against a plugin that never started: its paths answer 503 naming the failure instead."""
    failed = {f"/plugins/{record.name}": record for record in host.plugins.failed}
    app.router.routes[:] = [
        Mount(route.path, app=_unavailable(failed[route.path]))
        if isinstance(route, Mount) and route.path in failed
        else route
        for route in app.router.routes
    ]


def _unavailable(record: PluginRecord) -> ASGIApp:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011, "reason": "plugin unavailable"})
            return
        response = errors.error_response(
            503, "plugin_unavailable", f"plugin {record.name} is not running: {record.error}"
        )
        await response(scope, receive, send)

    return answer
