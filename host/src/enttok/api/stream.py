"""WebSocket `/events`: replay after `?since=`, then live events, each with its `seq`; with
`?batch=1`, each message is a JSON array of the events ready to go (docs/api.md, "Events").

The handler reads as well as writes: a client that goes away is noticed at once (not at the
next event), so its subscription ends and shutdown never waits on it. A client that stays
but stops reading is dropped too: by the bus when it falls too far behind, and here when one send
(or the close) waits over `SEND_TIMEOUT` on a socket whose buffer it no longer empties.

Close codes the app acts on (docs/api.md, "Events"):
- no handshake (HTTP 400, `invalid_since`): a `since` that is not a seq (ASCII digits, at
  most 2**63 - 1); (`invalid_batch`): a `batch` other than `0` or `1`;
- 1013 "too slow": reconnect with `?since=<last seq>`;
- 4000 "resync": `since` is beyond every seq this host ever issued, so its data was reset
  (a new or restored data dir); fetch the state again, then reconnect with the `since` in the
  reason (the newest seq, `"newest=<seq>"`), or with none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from enttok.api.errors import error_response
from enttok.api.models import EventStreamQuery
from enttok.api.openapi import documented
from enttok.events import SinceAhead, SubscriberTooSlow

TRY_AGAIN_LATER = 1013
RESYNC = 4000
SEND_TIMEOUT = 10.0
#: The largest seq SQLite can hold (a signed 64-bit integer).
MAX_SEQ = 2**63 - 1


@documented("The event stream (see docs/api.md)", query=EventStreamQuery, errors=(400,))
async def events(websocket: WebSocket) -> None:
    """The event stream (see docs/api.md): `?since=<seq>` replays what came after it."""
    raw_since = websocket.query_params.get("since")
    since = parse_since(raw_since)
    if raw_since is not None and since is None:
        await _refuse(websocket, "invalid_since", "since", f"since must be an integer from 0 to {MAX_SEQ}")
        return
    batch = websocket.query_params.get("batch", "0")
    if batch not in ("0", "1"):
        await _refuse(
            websocket,
            "invalid_batch",
            "batch",
            "batch must be 0 (a message per event) or 1 (arrays of events)",
        )
        return
    await websocket.accept()
    watch = _SendWatch()
    bus = websocket.app.state.host.bus
    sending = asyncio.create_task(_send(websocket, bus.stream(since, batch=batch == "1"), watch))
    listening = asyncio.create_task(_until_disconnect(websocket))
    stalled = asyncio.create_task(watch.until_stalled())
    await asyncio.wait([sending, listening, stalled], return_when=asyncio.FIRST_COMPLETED)
    # A stalled send: the client's socket buffer is full, so not even a close frame would
    # reach it. The subscription ends; the server closes the connection once this returns.
    for task in (sending, listening, stalled):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task


def parse_since(raw: str | None) -> int | None:
    """`raw` as a seq, or None when absent or not one: ASCII digits only (`str.isdigit`
    also takes `²`), and short enough to be a 64-bit integer before `int` reads it."""
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_SEQ)):
        return None
    value = int(raw)
    return value if value <= MAX_SEQ else None


async def _refuse(websocket: WebSocket, code: str, field: str, message: str) -> None:
    """Answer the handshake with a 400 naming `field`, where the server can send one (a
    plain close before accepting would be a 403, which reads as a refused token)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        details = [{"field": field, "message": message}]
        await websocket.send_denial_response(error_response(400, code, message, details))
    else:
        await websocket.close(code=1008, reason=message)


class _SendWatch:
    """When the send in progress began, checked every half SEND_TIMEOUT: far cheaper than
    a timeout around each send, which is paid once per event per subscriber."""

    def __init__(self) -> None:
        self.sending_since: float | None = None

    async def until_stalled(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SEND_TIMEOUT / 2)
            started = self.sending_since
            if started is not None and loop.time() - started > SEND_TIMEOUT:
                return


async def _send(websocket: WebSocket, messages: AsyncIterator[str], watch: _SendWatch) -> None:
    clock = asyncio.get_running_loop().time
    try:
        async for text in messages:
            watch.sending_since = clock()
            await websocket.send_text(text)
            watch.sending_since = None
        return
    except SubscriberTooSlow:
        code, reason = TRY_AGAIN_LATER, "too slow; reconnect with ?since=<last seq>"
    except SinceAhead as ahead:
        code, reason = RESYNC, f"resync: since is ahead; newest={ahead.newest}"
    watch.sending_since = clock()
    await websocket.close(code=code, reason=reason)


async def _until_disconnect(websocket: WebSocket) -> None:
    """Clients send nothing the host needs; reading is how a departure is noticed."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


routes = [WebSocketRoute("/events", events)]
