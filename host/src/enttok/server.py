"""Running the host under uvicorn: bind 127.0.0.1, print the ready line, exit 0 on SIGTERM.

The host owns its signals. uvicorn's own handling re-raises a caught SIGTERM once it has
shut down, so the process would die by the signal instead of exiting 0; here a signal (or,
with --parent-watch, stdin closing) only asks the server to exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import uvicorn

from enttok import __version__, logs
from enttok.api.app import create_app
from enttok.config import RuntimeConfig
from enttok.host import Host
from enttok.lock import DataDirLocked
from enttok.store import StoreError

log = logging.getLogger(__name__)

READY_PREFIX = "ENTTOK_READY"
RUNTIME_FILE = "host.json"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # see the module docstring

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self.ready.set()


def serve(config: RuntimeConfig, *, parent_watch: bool = False) -> int:
    logs.redact(config.token)
    logs.setup(config.log_dir, logging.DEBUG if config.run_env == "dev" else logging.INFO)
    host = Host(config)
    try:
        host.open()
    except (DataDirLocked, StoreError) as error:
        print(f"enttok: {error}", file=sys.stderr, flush=True)
        return 2
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", config.port))  # loopback only, by construction
        server = _Server(
            uvicorn.Config(
                create_app(host),
                log_config=None,
                access_log=False,
                proxy_headers=False,  # loopback only: no proxy ever stands in front
                server_header=False,
                lifespan="on",
                timeout_graceful_shutdown=3,
                ws_max_size=1024 * 1024,
            )
        )
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            return runner.run(_run(server, listener, config, host, parent_watch))
    finally:
        host.close()
        (config.database_path.parent / RUNTIME_FILE).unlink(missing_ok=True)


async def _run(
    server: _Server, listener: socket.socket, config: RuntimeConfig, host: Host, parent_watch: bool
) -> int:
    loop = asyncio.get_running_loop()

    def request_exit() -> None:
        server.should_exit = True

    _on_signals(loop, request_exit)
    if parent_watch:
        threading.Thread(
            target=_watch_stdin, args=(loop, request_exit), daemon=True, name="parent-watch"
        ).start()
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait([serving, ready], return_when=asyncio.FIRST_COMPLETED)
    schedules = None
    if ready.done():
        _announce(listener.getsockname()[1], config)
        schedules = asyncio.create_task(host.start_schedules(), name="start schedules")
    else:
        ready.cancel()
    try:
        await serving
    except SystemExit as failed_start:  # uvicorn's way of saying the lifespan failed
        log.error("the host failed to start (exit %s)", failed_start.code)
        return 1
    finally:
        if schedules is not None:
            schedules.cancel()
    return 0


def _announce(port: int, config: RuntimeConfig) -> None:
    (config.database_path.parent / RUNTIME_FILE).write_text(json.dumps({"port": port, "pid": os.getpid()}))
    if config.token_generated:
        print(f"enttok: token {config.token}", flush=True)
    print(f"enttok: serving on http://127.0.0.1:{port} (data in {config.data_dir})", flush=True)
    ready = {"port": port, "pid": os.getpid(), "version": __version__}
    print(f"{READY_PREFIX} {json.dumps(ready)}", flush=True)
    log.info("ready on 127.0.0.1:%d", port)


def _on_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, callback)
        except NotImplementedError:  # Windows
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(callback))


def _watch_stdin(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """--parent-watch: the parent holds our stdin; when it closes, the parent is gone."""
    # The raw descriptor, not sys.stdin: a thread blocked inside the buffered reader holds its
    # lock, and the interpreter aborts at exit when it finds it held.
    with contextlib.suppress(OSError, ValueError):
        while os.read(sys.stdin.fileno(), 4096):
            pass
    log.warning("stdin closed: the parent process is gone, shutting down")
    loop.call_soon_threadsafe(callback)
