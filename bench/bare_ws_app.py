"""The floor for the event stream: Starlette + uvicorn with one WebSocket route, `/events`,
broadcasting `--rate` JSON messages a second to every connected client.

One producer task makes the messages at a steady rate (each with `sent`, the wall-clock time
it was made, `time.time()`), offers each to every subscriber's queue, and each connection
sends its queue with `send_json`, as the host's `/events` does. Nothing is persisted: what is
left is the web stack's cost of a broadcast. Same python, same uvicorn, 127.0.0.1 only.

    python bench/bare_ws_app.py --port 8124 --rate 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

BUFFER = 2000  # as the host's EventBus: a client this far behind would be dropped there
TICK = 0.001
subscribers: set[asyncio.Queue[dict[str, Any]]] = set()


async def produce(rate: float) -> None:
    """Make `rate` messages a second: every tick, as many as are due by then."""
    made, started = 0, time.monotonic()
    while True:
        due = int((time.monotonic() - started) * rate)
        while made < due:
            made += 1
            message = {"seq": made, "type": "job.status", "job_id": f"job_{made:08d}", "sent": time.time()}
            for queue in subscribers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(message)
        await asyncio.sleep(TICK)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def events(websocket: WebSocket) -> None:
    await websocket.accept()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=BUFFER)
    subscribers.add(queue)
    try:
        while True:
            await websocket.send_json(await queue.get())
    except (WebSocketDisconnect, OSError, RuntimeError):  # the client went away mid-send
        pass
    finally:
        subscribers.discard(queue)


def make_app(rate: float) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        producer = asyncio.create_task(produce(rate))
        yield
        producer.cancel()

    return Starlette(
        routes=[Route("/health", health, methods=["GET"]), WebSocketRoute("/events", events)],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--rate", type=float, default=2000, help="messages per second to every client")
    args = parser.parse_args()
    uvicorn.run(make_app(args.rate), host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
