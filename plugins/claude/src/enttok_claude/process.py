"""One Claude CLI process: found, started, read message by message, and ended with everything
it started.

Three traits of the CLI shape this module. It refuses `--output-format stream-json` in print
mode without `--verbose`. It waits for its standard input to close when it is left open, so
it is started with stdin on /dev/null. And the processes it spawns (tool shells, MCP
servers) share its process group, so it is started as the leader of a new session and a
stopped run signals the whole group: SIGTERM, then SIGKILL after a grace. The leader is
always waited for (no zombie), and the group is swept once the leader is gone (no orphan).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enttok import PermanentError

#: The longest line the CLI may stream: a tool result can carry a whole file.
LINE_LIMIT = 32 * 1024 * 1024
STDERR_LINES = 20
#: Seconds the readers get to reach the end of the pipes once the CLI and its group are gone.
DRAIN_SECONDS = 5.0


class ClaudeNotFound(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="claude_not_found")


def locate(configured: str | None) -> str:
    """The CLI's path: the setting, else $CLAUDE_BIN, else `claude` on PATH."""
    candidate = configured or os.environ.get("CLAUDE_BIN") or "claude"
    found = shutil.which(candidate)
    if found is None:
        origin = (
            "the plugin setting `binary`"
            if configured
            else "CLAUDE_BIN"
            if os.environ.get("CLAUDE_BIN")
            else "PATH"
        )
        raise ClaudeNotFound(
            f"The Claude CLI was not found: {candidate!r} (from {origin}) is not an executable."
            " Install Claude Code, or set the plugin setting `binary` or CLAUDE_BIN to its path."
        )
    return found


@dataclass(frozen=True)
class Invocation:
    binary: str
    prompt: str
    resume: str | None = None
    model: str | None = None
    cwd: str | None = None
    allowed_tools: Sequence[str] = ()

    def argv(self) -> list[str]:
        argv = [self.binary, "-p", "--output-format", "stream-json", "--verbose"]
        if self.resume:
            argv += ["--resume", self.resume]
        if self.model:
            argv += ["--model", self.model]
        if self.allowed_tools:
            argv += ["--allowedTools", *self.allowed_tools]
        # `--` ends the options: a prompt starting with "-" stays a prompt.
        return [*argv, "--", self.prompt]


@dataclass
class Exit:
    returncode: int
    stderr: list[str] = field(default_factory=list)

    def reason(self) -> str:
        """The CLI's own last words, for an error message."""
        last = next((line for line in reversed(self.stderr) if line.strip()), "")
        return last.strip()[:500] or f"exit status {self.returncode}"


class Stopped(Exception):
    """The run was ended from outside: `reason` is "cancelled" or "timeout"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def run(
    invocation: Invocation,
    on_message: Callable[[dict[str, Any]], None],
    *,
    stop: Callable[[], Awaitable[Any]],
    time_limit: float,
    grace: float,
    on_noise: Callable[[str], None] = lambda line: None,
    on_start: Callable[[int], None] = lambda pid: None,
) -> Exit:
    """Run the CLI, calling `on_message` for every JSON message it streams, until it exits
    (its `Exit`), `stop()` returns, or `time_limit` seconds pass (both raise `Stopped` once the process
    group is gone). Lines that are not JSON go to `on_noise`."""
    try:
        process = await asyncio.create_subprocess_exec(
            *invocation.argv(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=invocation.cwd,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
    except (FileNotFoundError, PermissionError) as error:
        if invocation.cwd and not await asyncio.to_thread(os.path.isdir, invocation.cwd):
            raise PermanentError(
                f"The working directory {invocation.cwd!r} does not exist.", code="invalid_cwd"
            ) from None
        raise ClaudeNotFound(
            f"The Claude CLI at {invocation.binary!r} could not be started: {error.strerror}."
        ) from None
    except OSError as error:
        if error.errno == errno.E2BIG:
            raise PermanentError(
                "The prompt is too long for a command line.", code="prompt_too_long"
            ) from None
        raise PermanentError(
            f"The Claude CLI could not be started: {error.strerror}.", code="claude_failed"
        ) from None
    on_start(process.pid)
    stderr: deque[str] = deque(maxlen=STDERR_LINES)
    reader = asyncio.create_task(_read_stdout(process, on_message, on_noise))
    errors = asyncio.create_task(_read_stderr(process, stderr))
    exited = asyncio.create_task(process.wait())
    stopper = asyncio.ensure_future(stop())
    deadline = asyncio.get_running_loop().time() + time_limit
    try:
        waiting = {exited, stopper, reader}
        while exited in waiting:
            left = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait(waiting, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                raise Stopped("cancelled")
            if not done:
                raise Stopped("timeout")
            if reader in done:
                reader.result()  # a line over LINE_LIMIT
            waiting -= done
        # The CLI is gone and what it wrote is in its pipes, which a process it left behind
        # may hold open: ending its group lets the readers reach the end.
        await end_group(process, grace)
        await asyncio.wait({reader, errors}, timeout=DRAIN_SECONDS)
        if reader.done():
            reader.result()
        return Exit(exited.result(), list(stderr))
    finally:
        stopper.cancel()
        await end_group(process, grace)
        for task in (reader, errors, exited):
            task.cancel()
        await asyncio.gather(reader, errors, exited, return_exceptions=True)


async def end_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """End the CLI and every process in its group; return once the CLI is reaped.

    A live CLI gets SIGTERM and `grace` seconds. Then SIGKILL goes to the group in any case,
    for what outlived the CLI. Awaited inside a cancelled task it still finishes: the signals
    are sent before the first await, and a cancellation meanwhile skips only the grace (it
    is raised again once the group is killed)."""
    group = process.pid  # the session leader's pid is its group id
    cancelled = False
    if process.returncode is None:
        _signal(group, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), grace)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            cancelled = True
    _signal(group, signal.SIGKILL)
    if process.returncode is None:
        try:
            await asyncio.shield(process.wait())
        except asyncio.CancelledError:
            cancelled = True  # the shielded wait still reaps it
    if cancelled:
        raise asyncio.CancelledError


def started_at(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux's /proc), or None: with
    the pid, it tells a process apart from a later one given the same pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def sweep(group: int, started: str | None) -> None:
    """Kill what is left of a run the host lost track of (it was killed mid-run): the CLI
    leads a session of its own, so it outlives the host.

    The group is killed if its leader is gone, or is still the process that was started
    (`started`, from `started_at`, matches; a zombie counts). A pid reused since is left
    alone. A group id is not reused while any process of the group lives, so signalling a
    group whose leader is gone reaches only what that run left behind. Without /proc
    (macOS) the leader is only checked to still lead its group."""
    now = started_at(group)
    if now is not None or started is not None:
        ours = now is None or now == started
    else:
        try:
            ours = os.getpgid(group) == group
        except ProcessLookupError:
            ours = True
    if ours:
        _signal(group, signal.SIGKILL)


def _signal(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


async def _read_stdout(
    process: asyncio.subprocess.Process,
    on_message: Callable[[dict[str, Any]], None],
    on_noise: Callable[[str], None],
) -> None:
    assert process.stdout is not None
    while True:
        try:
            line = await process.stdout.readline()
        except ValueError:
            raise PermanentError(
                f"Claude streamed a message over {LINE_LIMIT // (1024 * 1024)} MiB.", code="claude_output"
            ) from None
        if not line:
            return
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            message = json.loads(text)
        except ValueError:
            on_noise(text)
            continue
        if isinstance(message, dict):
            on_message(message)
        else:
            on_noise(text)


async def _read_stderr(process: asyncio.subprocess.Process, tail: deque[str]) -> None:
    assert process.stderr is not None
    async for line in process.stderr:
        tail.append(line.decode("utf-8", errors="replace").rstrip())


async def version(binary: str, time_limit: float = 10.0) -> str:
    """`claude --version`, for the plugin's check; raises `ClaudeNotFound` if it cannot say."""
    try:
        process = await asyncio.create_subprocess_exec(
            binary,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        raise ClaudeNotFound(
            f"The Claude CLI at {binary!r} could not be started: {error.strerror}."
        ) from None
    try:
        output, errors = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        raise ClaudeNotFound(
            f"The Claude CLI at {binary!r} did not answer --version in {time_limit:g}s."
        ) from None
    finally:
        await end_group(process, 0.5)
    if process.returncode != 0:
        detail = errors.decode(errors="replace").strip().splitlines()[-1:] or [f"status {process.returncode}"]
        raise ClaudeNotFound(f"The Claude CLI at {binary!r} failed --version: {detail[0][:300]}")
    return output.decode(errors="replace").strip()[:200]
