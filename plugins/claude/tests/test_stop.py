"""Stopping a run ends the CLI's whole process group: a cancel, the run's timeout and the host
stopping each leave neither the CLI nor the child it spawned behind (no orphan), and the CLI
reaped (no zombie). The children are looked for in /proc by their pids."""

from __future__ import annotations

import time
from pathlib import Path

from claude_host import SUPPORT, settle, start
from fake_claude import FakeClaude, alive, state

from enttok.testing import EventStream


def wait_until_spawned(stream: EventStream, fake: FakeClaude, job_id: str) -> tuple[int, int]:
    """Once the run streams (its child is started before the first assistant message): the pids
    of the CLI and of its child."""
    stream.wait_for(lambda e: e["type"] == "log" and e["job_id"] == job_id and e.get("kind") == "assistant")
    (child,) = fake.children()
    cli = int((fake.home / "children" / str(child)).read_text())
    assert alive(cli) and alive(child)
    return cli, child


def assert_gone(*pids: int) -> None:
    """Each pid ends and is reaped (its /proc entry goes) within a deadline. A signal is
    delivered when the process is next scheduled, and a killed grandchild is reaped by init,
    so the entries are polled rather than read once."""
    deadline = time.monotonic() + 10
    while any(state(pid) is not None for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [state(pid) for pid in pids] == [None] * len(pids), [
        (pid, state(pid), _parent(pid)) for pid in pids
    ]


def _parent(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except FileNotFoundError:
        return None


def test_cancel_ends_the_cli_and_the_child_it_spawned(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    with host.events() as stream:
        job_id = host.submit("claude.run", {"prompt": "[fake: slow=120 spawn] a long task"})
        cli, child = wait_until_spawned(stream, fake, job_id)
        assert host.post(f"/jobs/{job_id}/cancel").status_code in (200, 202)
        job = host.wait_for_job(job_id, timeout=15)
    assert job["status"] == "canceled"
    assert_gone(cli, child)
    session = host.get("/plugins/claude/sessions").json()["sessions"][0]
    (run,) = host.get(f"/plugins/claude/sessions/{session['session_id']}").json()["runs"]
    assert run["status"] == "canceled"
    # Claude named its session before the cancel: the conversation can go on from there
    assert session["claude_session_id"] is not None


def test_a_cli_that_ignores_sigterm_is_killed_after_the_grace(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    settle(host, kill_grace=0.5)
    with host.events() as stream:
        job_id = host.submit("claude.run", {"prompt": "[fake: slow=120 spawn stubborn] a long task"})
        cli, child = wait_until_spawned(stream, fake, job_id)
        host.post(f"/jobs/{job_id}/cancel")
        job = host.wait_for_job(job_id, timeout=15)
    assert job["status"] == "canceled"
    assert_gone(cli, child)


def test_the_run_timeout_ends_the_group_and_fails_the_job(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    with host.events() as stream:
        job_id = host.submit(
            "claude.run", {"prompt": "[fake: slow=120 spawn stubborn] a long task", "timeout": 2}
        )
        cli, child = wait_until_spawned(stream, fake, job_id)
        job = host.wait_for_job(job_id, timeout=20)
    assert job["status"] == "failed"
    assert job["error"] == {
        "code": "timeout",
        "message": "Claude ran over 2s and was stopped.",
        "retryable": False,
    }
    assert_gone(cli, child)


def test_stopping_the_host_ends_the_running_cli_group(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    with host.events() as stream:
        job_id = host.submit("claude.run", {"prompt": "[fake: slow=120 spawn] a long task"})
        cli, child = wait_until_spawned(stream, fake, job_id)
    assert host.stop() == 0
    assert_gone(cli, child)


def test_after_a_host_crash_the_restarted_host_ends_what_the_lost_run_left(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    with host.events() as stream:
        job_id = host.submit("claude.run", {"prompt": "[fake: slow=120 spawn] a long task"})
        cli, child = wait_until_spawned(stream, fake, job_id)
    host.kill()
    assert alive(cli) and alive(child)  # in a session of its own, the CLI outlives a crash
    restarted = enttok_host(
        plugins=["claude"], plugin_modules={"timeline_seed": "timeline_seed"},
        pythonpath=[SUPPORT], env={"CLAUDE_BIN": str(fake.binary)},
    )  # fmt: skip
    assert_gone(cli, child)
    # The job had its one attempt: the queue fails it; its run shows it was interrupted.
    job = restarted.wait_for_job(job_id, timeout=15)
    assert job["status"] == "failed"
    session = restarted.get("/plugins/claude/sessions").json()["sessions"][0]
    (run,) = restarted.get(f"/plugins/claude/sessions/{session['session_id']}").json()["runs"]
    assert (run["status"], run["error"]) == ("interrupted", "the host stopped during the run")


def test_a_process_the_cli_leaves_behind_neither_holds_up_the_run_nor_outlives_it(
    enttok_host, tmp_path
) -> None:
    host, fake = start(enttok_host, tmp_path)
    # The child inherits the CLI's stdout: the pipe stays open after the CLI exits.
    job = host.run("claude.run", {"prompt": "[fake: spawn] hi", "timeout": 60}, timeout=30)
    assert job["status"] == "succeeded", host.job_events(job["job_id"])
    assert job["result"]["text"] == "Turn 1: you said hi"
    (child,) = fake.children()
    assert_gone(child)
