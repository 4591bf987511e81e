"""WebSocket `/events`: replay after `?since=`, then live events, each with its `seq`."""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from enttok.events import SubscriberTooSlow

TRY_AGAIN_LATER = 1013


async def events(websocket: WebSocket) -> None:
    """The event stream (see CONTRACT.md): `?since=<seq>` replays what came after it."""
    raw_since = websocket.query_params.get("since")
    since = int(raw_since) if raw_since is not None and raw_since.isdigit() else None
    if raw_since is not None and since is None:
        await websocket.close(code=1008, reason="since must be a non-negative integer")
        return
    await websocket.accept()
    bus = websocket.app.state.host.bus
    try:
        async for event in bus.stream(since):
            await websocket.send_json(event)
    except SubscriberTooSlow:
        await websocket.close(code=TRY_AGAIN_LATER, reason="too slow; reconnect with ?since=<last seq>")
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away mid-send


routes = [WebSocketRoute("/events", events)]
