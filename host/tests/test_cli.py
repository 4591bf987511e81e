"""The `enttok` command as a person runs it: `plugins`, `jobs submit/list` against a running
host, and `serve` refusing a data dir another host holds or a bad environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from enttok.testing import RunningHost, start_host

DEMO_JOB_TYPES = ("demo.noop", "demo.sleep", "demo.fail")


def enttok(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m enttok ARGS` with only the enttok variables given in `env`."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BACKEND_", "ENTTOK_")) and key not in ("APP_DATA_DIR", "LOG_DIR", "RUN_ENV")
    }
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "enttok", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_readable_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip()
    assert message.startswith("enttok: "), message
    for word in words:
        assert word.lower() in message.lower(), message


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(tmp_path_factory.mktemp("cli"), plugins=["demo"])
    yield running
    running.close()


def client_env(host: RunningHost, **extra: str) -> dict[str, str]:
    return {"BACKEND_TOKEN": host.token, "BACKEND_PORT": str(host.port), **extra}


# -- enttok plugins


def test_plugins_prints_a_table(tmp_path: Path) -> None:
    result = enttok("plugins", env={"APP_DATA_DIR": str(tmp_path), "ENTTOK_PLUGINS_ALLOW": "demo"})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["PLUGIN", "VERSION", "STATE"], lines
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert set(rows) == {"demo", "maintenance"}, lines
    assert "loaded" in rows["demo"].split()
    for job_type in DEMO_JOB_TYPES:
        assert job_type in rows["demo"], rows["demo"]
    assert "maintenance.compact" in rows["maintenance"]


def test_plugins_json(tmp_path: Path) -> None:
    result = enttok("plugins", "--json", env={"APP_DATA_DIR": str(tmp_path), "ENTTOK_PLUGINS_ALLOW": "demo"})
    assert result.returncode == 0, result.stderr
    plugins = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}
    assert set(plugins) == {"demo", "maintenance"}
    demo = plugins["demo"]
    assert demo["state"] == "loaded" and demo["error"] is None
    job_types = {job_type["name"]: job_type for job_type in demo["job_types"]}
    assert set(DEMO_JOB_TYPES) <= set(job_types)
    assert "seconds" in job_types["demo.sleep"]["payload_schema"]["properties"]


def test_plugins_reports_a_plugin_that_fails_to_load(tmp_path: Path) -> None:
    env = {
        "APP_DATA_DIR": str(tmp_path),
        "ENTTOK_PLUGINS_ALLOW": "demo,broken",
        "ENTTOK_PLUGIN_MODULES": "broken=enttok_no_such_module_for_tests",
    }
    result = enttok("plugins", env=env)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    table, _, notes = result.stdout.partition("\n\n")
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert "failed" in rows["broken"].split(), result.stdout
    assert "loaded" in rows["demo"].split(), result.stdout
    assert "broken" in notes and "enttok_no_such_module_for_tests" in notes, result.stdout


# -- enttok jobs


@pytest.mark.parametrize("how", ["port", "url", "data_dir"])
def test_submit_and_wait(host: RunningHost, how: str) -> None:
    """The host is found by BACKEND_PORT, by --url, or by the data dir's runtime file."""
    args = ["jobs", "submit", "demo.noop", "--wait", "--timeout", "30"]
    if how == "port":
        env = client_env(host)
    elif how == "url":
        env = {"BACKEND_TOKEN": host.token}
        args += ["--url", host.url]
    else:
        env = {"BACKEND_TOKEN": host.token, "APP_DATA_DIR": str(host.data_dir)}
    result = enttok(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    job = json.loads(result.stdout)
    assert job["type"] == "demo.noop" and job["status"] == "succeeded", job
    assert host.job(job["job_id"])["status"] == "succeeded"


def test_submit_with_payload_without_waiting(host: RunningHost) -> None:
    payload = json.dumps({"seconds": 0, "steps": 1})
    result = enttok("jobs", "submit", "demo.sleep", "--payload", payload, env=client_env(host))
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["status"] == "queued"
    assert host.wait_for_job(created["job_id"])["payload"] == {"seconds": 0, "steps": 1}


def test_submit_and_wait_for_a_failing_job_exits_nonzero(host: RunningHost) -> None:
    payload = json.dumps({"message": "expected by test_cli"})
    result = enttok("jobs", "submit", "demo.fail", "--payload", payload, "--wait", env=client_env(host))
    assert result.returncode != 0
    job = json.loads(result.stdout)
    assert job["status"] == "failed"
    assert job["error"]["message"] == "expected by test_cli"


def test_jobs_list(host: RunningHost) -> None:
    job_id = host.run("demo.noop")["job_id"]

    result = enttok("jobs", "list", env=client_env(host))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == [job_id, "demo.noop", "succeeded"], "the newest job comes first"

    filtered = enttok("jobs", "list", "--type", "demo.fail", "--limit", "5", env=client_env(host))
    assert filtered.returncode == 0, filtered.stderr
    assert job_id not in filtered.stdout
    assert all(line.split()[1] == "demo.fail" for line in filtered.stdout.splitlines())


def test_wrong_token_exits_with_a_readable_message(host: RunningHost) -> None:
    jobs_before = host.get("/jobs", params={"limit": 500}).json()["jobs"]
    result = enttok("jobs", "submit", "demo.noop", "--wait", env=client_env(host, BACKEND_TOKEN="f" * 64))
    assert_readable_failure(result, "401")
    assert host.get("/jobs", params={"limit": 500}).json()["jobs"] == jobs_before, "a job was created"


def test_missing_token_exits_with_a_readable_message(host: RunningHost) -> None:
    result = enttok("jobs", "list", env={"BACKEND_PORT": str(host.port)})
    assert_readable_failure(result, "BACKEND_TOKEN")


def test_unknown_job_type_exits_with_the_hosts_message(host: RunningHost) -> None:
    result = enttok("jobs", "submit", "nope.nothing", env=client_env(host))
    assert_readable_failure(result, "422", "nope.nothing")


def test_unreachable_host_exits_with_a_readable_message() -> None:
    with socket.socket() as bound:  # bound, never listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = enttok("jobs", "list", env={"BACKEND_TOKEN": "a" * 64, "BACKEND_PORT": str(port)})
    assert_readable_failure(result, "cannot reach", str(port))


# -- enttok serve


def test_second_host_on_the_same_data_dir_is_refused(host: RunningHost, tmp_path: Path) -> None:
    env = {
        "APP_DATA_DIR": str(host.data_dir),
        "LOG_DIR": str(tmp_path / "logs"),
        "BACKEND_PORT": "0",
        "BACKEND_TOKEN": "b" * 64,
    }
    try:
        result = enttok("serve", env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a second host started serving on a data dir already in use")
    assert result.returncode != 0
    assert "ENTTOK_READY" not in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert str(host.data_dir.resolve()) in result.stderr, result.stderr
    # the first host is untouched, and clients still find it through its data dir
    assert host.get("/health").status_code == 200
    runtime = json.loads((host.data_dir / "data" / "host.json").read_text())
    assert runtime["port"] == host.port


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BACKEND_PORT", "http"), ("BACKEND_TOKEN", "short")],
)
def test_serve_refuses_a_bad_environment_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {"APP_DATA_DIR": str(tmp_path), "BACKEND_PORT": "0", "BACKEND_TOKEN": "c" * 64, variable: value}
    try:
        result = enttok("serve", env=env, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the host started with {variable}={value!r}")
    assert_readable_failure(result, variable)
    assert "ENTTOK_READY" not in result.stdout
