"""`enttok new-plugin` writes a connector that a stranger can install, test and ship: in a
fresh venv with only the host and it, the host discovers it, and its generated tests and the
conformance suite pass, and ruff finds nothing to fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(
    *command: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the generated package, the python of a fresh venv holding it and the host)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the fresh venv (the README's test command runs under uv)"
    work = tmp_path_factory.mktemp("scaffold")
    run(sys.executable, "-m", "enttok", "new-plugin", "acme_tracker", "--dir", work, cwd=work)
    package = work / "enttok-acme_tracker"
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    run(uv, "venv", "--quiet", "--python", sys.executable, work / "venv", cwd=work, env=environ)
    python = work / "venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-e",
        ROOT / "host",
        "-e",
        package,
        "pytest",
        cwd=work,
        env=environ,
    )
    return package, python


def test_rejects_a_bad_name(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "enttok", "new-plugin", "Bad-Name", "--dir", tmp_path],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "lower_snake_case" in result.stderr
    assert not any(tmp_path.iterdir())


def test_generated_plugin_is_discovered(generated: tuple[Path, Path], tmp_path: Path) -> None:
    _, python = generated
    environ = {**os.environ, "APP_DATA_DIR": str(tmp_path)}
    environ.pop("ENTTOK_PLUGINS_ALLOW", None)
    listed = json.loads(run(python, "-m", "enttok", "plugins", "--json", cwd=tmp_path, env=environ).stdout)
    plugin = next(p for p in listed if p["name"] == "acme_tracker")
    assert plugin["state"] == "loaded", plugin["error"]
    assert [t["name"] for t in plugin["job_types"]] == ["acme_tracker.sync"]
    assert set(plugin["account_schema"]["properties"]) == {"base_url", "refresh_token"}


def test_generated_tests_and_conformance_pass(generated: tuple[Path, Path]) -> None:
    package, python = generated
    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert "TestConformance" in run(python, "-m", "pytest", "--collect-only", "-q", cwd=package).stdout
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_generated_code_is_clean(generated: tuple[Path, Path]) -> None:
    package, _ = generated
    run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=package)
    run(sys.executable, "-m", "ruff", "format", "--no-cache", "--check", ".", cwd=package)
