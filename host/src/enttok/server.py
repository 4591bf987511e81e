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

from enttok import __version__, logs, process
from enttok.api.app import create_app
from enttok.api.connections import BoundedHttpProtocol
from enttok.config import RuntimeConfig
from enttok.exits import Exit
from enttok.host import Host
from enttok.lock import DataDirLocked
from enttok.store import NotWritable, StoreError
from enttok.store_faults import DatabaseBusy, DiskFull, StoreUnavailable

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
    process.make_private(config)  # before the first file (the log) is created
    try:
        logs.setup(config.log_dir, logging.DEBUG if config.run_env == "dev" else logging.INFO)
    except OSError as error:
        return refuse(
            Exit.LOG_DIR_NOT_WRITABLE,
            f"cannot write logs to {config.log_dir} ({error.strerror}); make it writable or set LOG_DIR elsewhere",
        )
    process.raise_open_file_limit()
    host = Host(config)
    if (refused := _open(host)) is not None:
        return refused
    try:
        try:
            listener = _listen(config.port)
        except OSError as error:
            return refuse(
                Exit.PORT_UNAVAILABLE,
                f"cannot listen on 127.0.0.1:{config.port} ({error.strerror}); "
                "stop what uses it or set BACKEND_PORT to another port (0: any free one)",
            )
        server = _Server(
            uvicorn.Config(
                create_app(host),
                log_config=None,
                access_log=False,
                proxy_headers=False,  # loopback only: no proxy ever stands in front
                server_header=False,
                lifespan="on",
                timeout_graceful_shutdown=3,
                http=BoundedHttpProtocol,  # a deadline for headers, a cap on connections
                ws_max_size=1024 * 1024,
                ws_per_message_deflate=False,  # small events: compressing each, per client, costs more
            )
        )
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            code = runner.run(_run(server, listener, config, host, parent_watch))
        if code == Exit.OK and (fault := host.health.fault) is not None:
            return refuse(host.exit_code(), f"stopped with a fault ({fault.code}): {fault.message}")
        return code
    finally:
        (config.database_path.parent / RUNTIME_FILE).unlink(missing_ok=True)
        host.close()


def refuse(code: Exit, reason: object) -> int:
    """The one `enttok:` line a person reads, on stderr, and the code a supervisor reads."""
    print(f"enttok: {reason}", file=sys.stderr, flush=True)
    return code


def _open(host: Host) -> int | None:
    """`host.open()`; None once open, else the exit code of why it cannot start."""
    data_dir = host.config.data_dir
    try:
        host.open()
    except DataDirLocked as error:
        return refuse(Exit.DATA_DIR_LOCKED, error)
    except NotWritable as error:
        return refuse(
            Exit.DATA_DIR_NOT_WRITABLE,
            f"cannot write to the data dir {data_dir}: {error}; make it writable or set APP_DATA_DIR elsewhere",
        )
    except DiskFull:
        return refuse(Exit.DISK_FULL, f"the disk holding {data_dir} is full; free some space and start again")
    except DatabaseBusy as error:
        return refuse(
            Exit.DATA_DIR_LOCKED,
            f"another process holds the write lock of {host.config.database_path} ({error.__cause__}); "
            "stop it or point APP_DATA_DIR elsewhere",
        )
    except (StoreError, StoreUnavailable) as error:
        return refuse(Exit.DATABASE_UNUSABLE, error)
    return None


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))  # loopback only, by construction
    except OSError:
        listener.close()
        raise
    return listener


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
        return Exit.UNEXPECTED
    finally:
        if schedules is not None:
            schedules.cancel()
    return Exit.OK


def _announce(port: int, config: RuntimeConfig) -> None:
    try:  # for `enttok jobs`; the ready line below is what the app reads
        (config.database_path.parent / RUNTIME_FILE).write_text(
            json.dumps({"port": port, "pid": os.getpid()})
        )
    except OSError as error:
        log.warning("cannot write %s: %s", RUNTIME_FILE, error)
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
