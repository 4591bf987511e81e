"""What the Claude tests do with the host: start it with the fake CLI, run and read jobs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fake_claude import FakeClaude, install

from enttok.testing import RunningHost

SUPPORT = Path(__file__).parent / "support"


def start(
    enttok_host: Callable[..., RunningHost], tmp_path: Path, **env: str
) -> tuple[RunningHost, FakeClaude]:
    """A host with the Claude plugin (and the timeline seeder) whose CLI is the fake."""
    fake = install(tmp_path / "fake")
    host = enttok_host(
        plugins=["claude"],
        plugin_modules={"timeline_seed": "timeline_seed"},
        pythonpath=[SUPPORT],
        env={"CLAUDE_BIN": str(fake.binary), **env},
    )
    return host, fake


def settle(host: RunningHost, **settings: Any) -> None:
    response = host.post("/settings", json={"plugins": {"claude": settings}})
    assert response.status_code == 200, response.text


def succeeded(host: RunningHost, job_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    job = host.run(job_type, payload)
    assert job["status"] == "succeeded", (job, host.job_events(job["job_id"]))
    return job


def logs(host: RunningHost, job_id: str) -> list[dict[str, Any]]:
    return [event for event in host.job_events(job_id) if event.get("type", "log") == "log"]
