"""`create_app`: the Starlette app around a `Host`, its lifespan starting and stopping it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from enttok.api import errors, jobs, stream, system
from enttok.api.accounts import account_routes
from enttok.api.security import GuardMiddleware
from enttok.host import Host


def create_app(host: Host) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await host.start()
        try:
            yield
        finally:
            await host.stop()

    routes: list[BaseRoute] = [*system.routes, *jobs.routes, *stream.routes]
    for record in host.plugins.loaded:
        plugin_routes = [*(account_routes(record.name) if record.account_model else []), *record.routes]
        if plugin_routes:
            routes.append(Mount(f"/plugins/{record.name}", routes=plugin_routes))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(GuardMiddleware, token=host.config.token, allowed_origins=host.config.allowed_origins)
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # `/status/` is a 404 like any unknown path, not a redirect
    app.state.host = host
    app.state.openapi = None
    return app
