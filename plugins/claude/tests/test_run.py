"""claude.run on the real host with the fake CLI: the stream as job events, the result, a
session continued with --resume, the session routes, the CLI's failures, and a missing CLI."""

from __future__ import annotations

import os

from claude_host import logs, settle, start, succeeded
from fake_claude import install


def test_a_run_streams_every_message_live_and_returns_text_session_cost_and_usage(
    enttok_host, tmp_path
) -> None:
    host, fake = start(enttok_host, tmp_path)
    with host.events() as stream:
        job_id = host.submit("claude.run", {"prompt": "[fake: tool] what changed?"})
        finished = stream.wait_for(
            lambda e: e["type"] == "job.status" and e["job_id"] == job_id and e.get("status") == "succeeded",
            timeout=30,
        )
        live = [e for e in stream.received if e.get("job_id") == job_id and e["seq"] < finished["seq"]]
    kinds = [e["kind"] for e in live if e["type"] == "log" and "kind" in e]
    assert kinds == ["system", "assistant", "user", "assistant", "result"]
    assert any(e["type"] == "job.progress" and "Claude" in (e.get("message") or "") for e in live)
    summaries = [e["message"] for e in live if e["type"] == "log"]
    assert any("uses Bash git log --oneline -3" in text for text in summaries)
    assert any("tool result (26 characters)" in text for text in summaries)
    assert all(len(text) <= 200 for text in summaries)

    result = host.job(job_id)["result"]
    (call,) = fake.calls()
    assert result["text"] == "Turn 1: you said what changed?"
    assert fake.history(result["claude_session_id"]) == ["what changed?"]
    assert result["session_id"].startswith("ses_")
    assert result["cost_usd"] == 0.0125
    assert result["usage"]["output_tokens"] == 7 and result["num_turns"] == 2
    assert result["model"] == "claude-sonnet-4-5-20250929"
    # print mode, stream-json with the --verbose it requires, the prompt after `--`
    assert call["argv"] == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--",
        "[fake: tool] what changed?",
    ]


def test_a_session_continues_with_resume_and_keeps_its_runs(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    first = succeeded(host, "claude.run", {"prompt": "my name is Ana"})["result"]
    second = succeeded(host, "claude.run", {"prompt": "what is my name?", "session_id": first["session_id"]})[
        "result"
    ]
    assert second["session_id"] == first["session_id"]
    assert second["text"] == "Turn 2: you said what is my name?"
    assert fake.history(second["claude_session_id"]) == ["my name is Ana", "what is my name?"]
    assert fake.calls()[1]["argv"][4:6] == ["--resume", first["claude_session_id"]]

    session = host.get(f"/plugins/claude/sessions/{first['session_id']}").json()
    assert session["run_count"] == 2 and session["total_cost_usd"] == 0.025
    assert session["claude_session_id"] == second["claude_session_id"]
    assert [(run["prompt"], run["status"], run["text"]) for run in session["runs"]] == [
        ("my name is Ana", "succeeded", "Turn 1: you said my name is Ana"),
        ("what is my name?", "succeeded", "Turn 2: you said what is my name?"),
    ]
    listed = host.get("/plugins/claude/sessions").json()["sessions"]
    assert [s["session_id"] for s in listed] == [first["session_id"]]


def test_session_and_spawn_routes_carry_model_tools_and_working_directory(enttok_host, tmp_path) -> None:
    host, fake = start(enttok_host, tmp_path)
    workdir = tmp_path / "project"
    workdir.mkdir()
    created = host.post(
        "/plugins/claude/session",
        json={
            "title": "Review",
            "model": "opus",
            "cwd": str(workdir),
            "allowed_tools": ["Read", "Bash(git log:*)"],
        },
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    spawned = host.post(
        "/plugins/claude/spawn", json={"session_id": session_id, "prompt": "-v is not an option"}
    )
    assert spawned.status_code == 201, spawned.text
    assert spawned.json()["session_id"] == session_id
    job = host.wait_for_job(spawned.json()["job_id"])
    assert job["status"] == "succeeded", host.job_events(job["job_id"])
    (call,) = fake.calls()
    assert call["argv"] == [
        "-p", "--output-format", "stream-json", "--verbose", "--model", "opus",
        "--allowedTools", "Read", "Bash(git log:*)", "--", "-v is not an option",
    ]  # fmt: skip
    assert call["cwd"] == str(workdir)
    assert job["result"]["text"] == "Turn 1: you said -v is not an option"

    # spawn without a session starts one
    fresh = host.post("/plugins/claude/spawn", json={"prompt": "hello"}).json()
    assert fresh["session_id"] != session_id
    assert host.wait_for_job(fresh["job_id"])["status"] == "succeeded"
    assert host.get(f"/plugins/claude/sessions/{fresh['session_id']}").json()["title"] == "hello"


def test_bad_input_is_a_4xx_naming_the_field(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    cases = [
        ("/plugins/claude/spawn", {"prompt": ""}, 422, "prompt"),
        ("/plugins/claude/spawn", {"prompt": "hi", "cwd": "relative/dir"}, 422, "cwd"),
        ("/plugins/claude/spawn", {"prompt": "hi\u0000"}, 422, "prompt"),
        ("/plugins/claude/spawn", {"prompt": "가" * 50_000}, 422, "prompt"),  # 150 kB: over a command line
        ("/plugins/claude/spawn", {"prompt": "hi", "allowed_tools": [""]}, 422, "allowed_tools.0"),
        ("/plugins/claude/spawn", {"prompt": "hi", "colour": "red"}, 422, "colour"),
        ("/plugins/claude/spawn", {"prompt": "hi", "session_id": "ses_nope"}, 404, "session_id"),
        ("/plugins/claude/session", {"model": ""}, 422, "model"),
        # nothing can pass for a flag of the CLI's
        ("/plugins/claude/spawn", {"prompt": "hi", "model": "--dangerously-skip-permissions"}, 422, "model"),
        (
            "/plugins/claude/session",
            {"allowed_tools": ["Read", "--dangerously-skip-permissions"]},
            422,
            "allowed_tools.1",
        ),
    ]
    for path, body, status, field in cases:
        response = host.post(path, json=body)
        assert response.status_code == status, (body, response.text)
        fields = [detail["field"] for detail in response.json()["error"]["details"]]
        assert field in fields, (body, response.text)
    assert (
        host.post(
            "/plugins/claude/spawn", content=b"{nope", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        host.post(
            "/plugins/claude/spawn", content=b"prompt=hi", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert host.get("/plugins/claude/sessions/ses_nope").status_code == 404
    assert host.get("/plugins/claude/sessions", params={"limit": 0}).status_code == 422
    job = host.post("/jobs", json={"type": "claude.run", "payload": {"prompt": "hi", "timeout": 0}})
    assert job.status_code == 422 and "payload.timeout" in job.text
    assert host.get("/plugins/claude/sessions").json()["sessions"] == []  # nothing was created


def test_the_cli_failing_is_a_readable_job_failure(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    failed = host.run("claude.run", {"prompt": "[fake: fail] hi"})
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "claude_failed"
    assert "API Error: 529" in failed["error"]["message"]

    refused = host.run("claude.run", {"prompt": "[fake: error] hi"})
    assert refused["status"] == "failed" and refused["error"]["code"] == "claude_error"
    assert refused["error"]["message"] == "Claude reported an error: Invalid API key · Please run /login"
    session = host.get("/plugins/claude/sessions").json()["sessions"][0]  # the latest: its run is kept
    (run,) = host.get(f"/plugins/claude/sessions/{session['session_id']}").json()["runs"]
    assert run["status"] == "failed" and run["error"].startswith("Claude reported an error")

    noisy = succeeded(host, "claude.run", {"prompt": "[fake: noise] hi"})
    warnings = [e for e in logs(host, noisy["job_id"]) if e.get("kind") == "noise"]
    assert [e["message"] for e in warnings] == ["Claude printed: npm WARN this line is not JSON"]
    for job in (failed, refused):
        assert not any("Traceback" in str(event) for event in host.job_events(job["job_id"]))


def test_a_missing_cli_is_a_sentence_at_job_start_and_in_the_check(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path, CLAUDE_BIN=str(tmp_path / "nowhere" / "claude"))
    job = host.run("claude.run", {"prompt": "hi"})
    assert job["status"] == "failed" and job["error"]["code"] == "claude_not_found"
    assert job["error"]["message"].startswith("The Claude CLI was not found:")
    assert "CLAUDE_BIN" in job["error"]["message"]
    assert not any("Traceback" in str(event) for event in host.job_events(job["job_id"]))
    check = host.get("/plugins/claude/check")
    assert check.status_code == 200
    assert check.json()["found"] is False and "was not found" in check.json()["error"]
    assert host.get("/plugins/claude/sessions").json()["sessions"] == []  # nothing stored for it

    fake = install(tmp_path / "elsewhere")
    settle(host, binary=str(fake.binary))  # the setting wins over CLAUDE_BIN
    assert host.get("/plugins/claude/check").json() == {
        "found": True, "binary": str(fake.binary), "version": "2.0.0 (Claude Code)", "error": None,
    }  # fmt: skip
    assert succeeded(host, "claude.run", {"prompt": "hi"})["result"]["text"] == "Turn 1: you said hi"


def test_without_a_setting_or_claude_bin_the_cli_is_found_on_path(enttok_host, tmp_path) -> None:
    fake = install(tmp_path / "fake")
    path = f"{fake.binary.parent}{os.pathsep}{os.environ['PATH']}"
    host = enttok_host(plugins=["claude"], env={"CLAUDE_BIN": "", "PATH": path})
    assert host.get("/plugins/claude/check").json()["binary"] == str(fake.binary)
    assert succeeded(host, "claude.run", {"prompt": "hi"})["result"]["text"] == "Turn 1: you said hi"
    assert len(fake.calls()) == 2  # --version, then the run
