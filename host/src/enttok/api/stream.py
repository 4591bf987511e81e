"""WebSocket `/events`: replay after `?since=`, then live events, each with its `seq`.

The handler reads as well as writes: a client that goes away is noticed at once (not at the
next event), so its subscription ends and shutdown never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from enttok.events import EventBus, SubscriberTooSlow

TRY_AGAIN_LATER = 1013


async def events(websocket: WebSocket) -> None:
    """The event stream (see CONTRACT.md): `?since=<seq>` replays what came after it."""
    raw_since = websocket.query_params.get("since")
    since = int(raw_since) if raw_since is not None and raw_since.isdigit() else None
    if raw_since is not None and since is None:
        await websocket.close(code=1008, reason="since must be a non-negative integer")
        return
    await websocket.accept()
    sending = asyncio.create_task(_send(websocket, websocket.app.state.host.bus, since))
    listening = asyncio.create_task(_until_disconnect(websocket))
    await asyncio.wait([sending, listening], return_when=asyncio.FIRST_COMPLETED)
    for task in (sending, listening):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task


async def _send(websocket: WebSocket, bus: EventBus, since: int | None) -> None:
    try:
        async for event in bus.stream(since):
            await websocket.send_json(event)
    except SubscriberTooSlow:
        await websocket.close(code=TRY_AGAIN_LATER, reason="too slow; reconnect with ?since=<last seq>")


async def _until_disconnect(websocket: WebSocket) -> None:
    """Clients send nothing the host needs; reading is how a departure is noticed."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


routes = [WebSocketRoute("/events", events)]
