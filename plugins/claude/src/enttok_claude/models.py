"""The plugin's settings, job payloads and route bodies: pydantic only, cheap to import."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PROMPT = 100_000
#: The prompt travels as one command-line argument, which Linux caps at 128 KiB.
MAX_PROMPT_BYTES = 120_000
# Values that go on the CLI's command line never start with "-": none can pass for a flag
# (`--dangerously-skip-permissions`, say).
ToolName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f-][^\x00-\x1f]*$")]
ModelName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@\[\]/-]*$")
]


class Strict(BaseModel):
    """Payloads and route bodies: validated by a job or a request, never at start, so their
    validators are built on first use (the settings' too: the host reads them on first use)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class ClaudeSettings(BaseModel):
    model_config = ConfigDict(defer_build=True)

    binary: str | None = Field(
        None,
        max_length=4096,
        description="The Claude CLI: a path or a command name. Unset: $CLAUDE_BIN, else `claude` on PATH.",
    )
    model: ModelName | None = Field(None, description="The model runs use unless they name one.")
    run_timeout: float = Field(
        1800, ge=1, le=86400, description="Seconds a run may take unless its payload says otherwise."
    )
    kill_grace: float = Field(
        2.0,
        ge=0.1,
        le=2.5,
        description="Seconds a stopped run gets after SIGTERM before its process group is killed"
        " (under the 3 s the host gives a cancelled job to end).",
    )
    timezone: str = Field("UTC", description="The IANA time zone a journal day is counted in.")
    context_limit: int = Field(
        12_000, ge=2000, le=MAX_PROMPT, description="Characters of timeline a journal prompt may hold."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)") from None
        return value


class RunOptions(Strict):
    model: ModelName | None = Field(None, description="e.g. `sonnet`, `opus`, `claude-sonnet-4-5`.")
    cwd: str | None = Field(
        None, min_length=1, max_length=4096, description="The absolute working directory Claude runs in."
    )
    allowed_tools: list[ToolName] | None = Field(
        None, max_length=100, description='Tools allowed without asking, e.g. `["Read", "Bash(git log:*)"]`.'
    )

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """A command line cannot carry a NUL character: refused here, not when Claude starts."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class RunPayload(RunOptions):
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT)
    session_id: str | None = Field(
        None, min_length=1, max_length=100, description="The session to continue; none: a new one."
    )
    timeout: float | None = Field(
        None, ge=1, le=86400, description="Seconds the run may take; the settings' `run_timeout` if unset."
    )

    @field_validator("prompt")
    @classmethod
    def _fits_a_command_line(cls, value: str) -> str:
        if len(value.encode("utf-8", errors="surrogatepass")) > MAX_PROMPT_BYTES:
            raise ValueError(
                f"must be at most {MAX_PROMPT_BYTES} bytes in UTF-8 (it is passed on a command line)"
            )
        return value


class SessionBody(RunOptions):
    title: str | None = Field(None, min_length=1, max_length=200)


class SuggestPayload(Strict):
    """`suggest.generate` of the app's job list, as `claude.suggest.generate`."""

    note_date: dt.date | None = Field(
        None, description="The day to write up; unset: the day that last ended in the settings' time zone."
    )
    note_path: str | None = Field(
        None, min_length=1, max_length=4096, description="The journal note; its text is given to Claude."
    )
    context_limit: int | None = Field(
        None, ge=2000, le=MAX_PROMPT, description="Characters of timeline the prompt may hold."
    )
    model: ModelName | None = None
