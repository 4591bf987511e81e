"""`enttok new-plugin` and the guide's "Start here", word for word: the shell blocks of that
section are read from docs/plugins.md and run as a new user runs them, in a fresh copy of
the checkout, with uv (offline, from its cache: nothing leaves the machine). Both ways work:
the package as a member of the checkout's uv workspace, and as a standalone package that
finds enttok through the path the scaffold writes. The generated tests and the conformance
suite pass as generated, the host discovers the plugin, and ruff is clean and flags a
blocking call in an async handler."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from enttok.scaffold import enttok_source, host_checkout

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
#: What the guide writes for the checkout in the standalone block.
CHECKOUT_PLACEHOLDER = "path/to/enttok"
#: Not part of a clone: environments, caches, the lock file (uv.lock is not committed).
NOT_CLONED = shutil.ignore_patterns(
    ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", "uv.lock", "dist", "build"
)


def uv_path() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed: the guide's commands are uv commands"
    return uv


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without its venv, the host's variables or a test selection,
    and uv offline: uv installs from its cache, nothing reaches the network."""
    own_venv = os.environ.get("VIRTUAL_ENV")
    path = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if not (own_venv and entry.startswith(own_venv))
    ]
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT", "PYTEST_ADDOPTS")
        and not key.startswith(("BACKEND_", "ENTTOK_", "PYTEST_"))
    }
    environ.update(PATH=os.pathsep.join([str(Path(uv_path()).parent), *path]), UV_OFFLINE="1", **extra)
    return environ


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    assert result.returncode == 0, (
        f"`{shlex.join(command)}` in {cwd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def start_here_blocks() -> list[list[str]]:
    """The commands of each shell block in the guide's "Start here", comments dropped."""
    section = GUIDE.read_text().split("\n## Start here\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [
        [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]
        for block in blocks
    ]


def fresh_checkout(parent: Path) -> Path:
    """What a clone of this working tree holds that uv needs: the workspace and its members."""
    checkout = parent / "enttok"
    checkout.mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", checkout)
    for member in ("host", "plugins"):
        shutil.copytree(ROOT / member, checkout / member, ignore=NOT_CLONED)
    return checkout


@dataclass
class Followed:
    """The guide followed once: where it ended, and what its last command printed."""

    checkout: Path
    package: Path
    output: str


def follow(commands: list[str], start: Path, checkout: Path) -> Followed:
    """Run `commands` as a shell would (`cd` moves on), from `start`."""
    cwd, output, env = start, "", clean_environment()
    for line in commands:
        words = shlex.split(line.replace(CHECKOUT_PLACEHOLDER, str(checkout)))
        if words[0] == "cd":
            cwd = (cwd / words[1]).resolve()
            assert cwd.is_dir(), f"`{line}`: no directory {cwd}"
            continue
        assert words[0] == "uv", f"the guide's Start here should only need uv, not `{line}`"
        output = run([uv_path(), *words[1:]], cwd, env)
    return Followed(checkout, cwd, output)


def assert_suite_passed(followed: Followed) -> None:
    summary = followed.output.strip().splitlines()[-1]
    assert "tests/test_conformance.py" in followed.output, "the conformance suite did not run"
    assert "tests/test_sync.py" in followed.output
    assert re.search(r"\d+ passed", summary) and not re.search(r"failed|error", summary), followed.output


@pytest.fixture(scope="module")
def in_workspace(tmp_path_factory: pytest.TempPathFactory) -> Followed:
    """The first block: from the checkout's root, the package in its workspace."""
    checkout = fresh_checkout(tmp_path_factory.mktemp("workspace"))
    return follow(start_here_blocks()[0], checkout, checkout)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Followed:
    """The second block: a package of its own next to the checkout, started elsewhere."""
    work = tmp_path_factory.mktemp("standalone")
    checkout = fresh_checkout(work)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    return follow(start_here_blocks()[1], elsewhere, checkout)


def test_the_guide_shows_both_ways() -> None:
    blocks = start_here_blocks()
    assert len(blocks) == 2, "Start here: one block in the workspace, one standalone"
    assert any("--dir plugins" in line for line in blocks[0])
    assert any(CHECKOUT_PLACEHOLDER in line for line in blocks[1])
    assert all(block[-1] == "uv run pytest" for block in blocks)


def test_rejects_a_bad_name(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "enttok", "new-plugin", "Bad-Name", "--dir", tmp_path],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "lower_snake_case" in result.stderr
    assert not any(tmp_path.iterdir())


def test_in_the_workspace_the_generated_suite_passes(in_workspace: Followed) -> None:
    assert in_workspace.package == in_workspace.checkout / "plugins" / "enttok-my_tracker"
    pyproject = tomllib.loads((in_workspace.package / "pyproject.toml").read_text())
    assert "sources" not in pyproject.get("tool", {}).get("uv", {}), "the workspace provides enttok"
    assert not (in_workspace.package / ".venv").exists(), "a member uses the workspace's environment"
    assert_suite_passed(in_workspace)


def test_standalone_the_generated_suite_passes(standalone: Followed) -> None:
    assert standalone.package == standalone.checkout.parent / "enttok-my_tracker"
    pyproject = tomllib.loads((standalone.package / "pyproject.toml").read_text())
    source = pyproject["tool"]["uv"]["sources"]["enttok"]
    assert (standalone.package / source["path"]).resolve() == standalone.checkout / "host"
    assert_suite_passed(standalone)
    where = run(
        [uv_path(), "run", "python", "-c", "import enttok; print(enttok.__file__)"],
        standalone.package,
        clean_environment(),
    )
    assert Path(where.strip()).is_relative_to(standalone.checkout / "host"), "enttok not from the checkout"


def test_generated_plugin_is_discovered(standalone: Followed, tmp_path: Path) -> None:
    listed = json.loads(
        run(
            [uv_path(), "run", "enttok", "plugins", "--json"],
            standalone.package,
            clean_environment(APP_DATA_DIR=str(tmp_path)),
        )
    )
    plugin = next(p for p in listed if p["name"] == "my_tracker")
    assert plugin["state"] == "loaded", plugin["error"]
    assert [t["name"] for t in plugin["job_types"]] == ["my_tracker.sync"]
    assert set(plugin["account_schema"]["properties"]) == {"base_url", "refresh_token"}


def test_generated_code_is_clean_and_blocking_calls_are_flagged(standalone: Followed) -> None:
    package, env = standalone.package, clean_environment()
    run([uv_path(), "run", "ruff", "check", "--no-cache", "."], package, env)
    run([uv_path(), "run", "ruff", "format", "--no-cache", "--check", "."], package, env)
    blocking = package / "src" / "enttok_my_tracker" / "blocking.py"
    blocking.write_text("import time\n\n\nasync def handler(ctx, payload):\n    time.sleep(1)\n")
    try:
        found = subprocess.run(
            [uv_path(), "run", "ruff", "check", "--no-cache", "--output-format", "concise", str(blocking)],
            cwd=package,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        blocking.unlink()
    assert found.returncode == 1 and "ASYNC251" in found.stdout, found.stdout + found.stderr


def test_the_source_table_follows_where_enttok_comes_from(tmp_path: Path) -> None:
    """A member of a workspace that provides enttok needs no table; anywhere else, this
    checkout's `host/` (enttok runs from a checkout here); a built enttok, none (below)."""
    workspace = tmp_path / "workspace"
    (workspace / "plugins").mkdir(parents=True)
    (workspace / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["plugins/*"]\n[tool.uv.sources]\nenttok = { workspace = true }\n'
    )
    assert enttok_source(workspace / "plugins" / "enttok-x") == ""
    assert host_checkout() == ROOT / "host"
    for outside in (workspace / "enttok-x", tmp_path / "enttok-x"):
        table = tomllib.loads(enttok_source(outside))
        assert (outside / table["tool"]["uv"]["sources"]["enttok"]["path"]).resolve() == ROOT / "host"


def test_enttok_installed_as_a_package_resolves_by_name(tmp_path: Path) -> None:
    """As when enttok comes from the registry: a built (not editable) enttok writes no
    source table, so `enttok` resolves by name. The wheel is built from this checkout and
    installed alone into a directory put first on the path; its dependencies are this venv's."""
    built = tmp_path / "site"
    run(
        [uv_path(), "pip", "install", "--quiet", "--no-deps", "--target", str(built), str(ROOT / "host")],
        tmp_path,
        clean_environment(),
    )
    env = {**clean_environment(), "PYTHONPATH": str(built)}
    where = run([sys.executable, "-c", "import enttok; print(enttok.__file__)"], tmp_path, env)
    assert Path(where.strip()).is_relative_to(built), "the built enttok is not the one imported"
    run([sys.executable, "-m", "enttok", "new-plugin", "my_tracker", "--dir", str(tmp_path)], tmp_path, env)
    pyproject = tomllib.loads((tmp_path / "enttok-my_tracker" / "pyproject.toml").read_text())
    assert "uv" not in pyproject.get("tool", {}), pyproject["tool"]
    assert pyproject["project"]["dependencies"] == ["enttok"]
