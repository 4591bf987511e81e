"""The desktop app's suites, run by the project's one test command (`uv run pytest`).

They are Node suites (`npm run test:supervisor` and `npm run test:e2e` in electron/): the
supervisor under plain Node against the real host, and the renderer end to end in headless
Chromium against the real host. Here they are run as two tests that fail with the suites'
own output, or, when an install step is missing, with the step that would fix it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ELECTRON = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("ENTTOK_CHROMIUM", "/usr/bin/chromium"))
INSTALL = "run `.ci/run`, or by hand: `cd electron && ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci`"
OUTPUT_TAIL = 250  # lines of a failed suite's output shown


def _require_node() -> None:
    """Node and the app's npm packages; the packages are installed from the lock when missing,
    as the README's one test command promises (Electron's own binary is never downloaded)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are not installed: the desktop app's tests need Node.js 20 or newer")
    if (ELECTRON / "node_modules" / ".package-lock.json").is_file():
        return
    installed = subprocess.run(
        ["npm", "ci"],
        cwd=ELECTRON,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ELECTRON_SKIP_BINARY_DOWNLOAD": "1"},
    )
    if installed.returncode != 0:
        tail = "\n".join((installed.stdout + installed.stderr).splitlines()[-40:])
        pytest.fail(f"`npm ci` in electron/ failed; {INSTALL}\n{tail}", pytrace=False)


def _run_suite(script: str) -> str:
    result = subprocess.run(
        ["npm", "run", "--silent", script],
        cwd=ELECTRON,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ENTTOK_CHROMIUM": str(CHROMIUM)},
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-OUTPUT_TAIL:])
        pytest.fail(
            f"`npm run {script}` in electron/ failed (exit {result.returncode}):\n{tail}", pytrace=False
        )
    return output


def _counts(output: str) -> tuple[int, int]:
    """The Node runner's closing counts: (passed, failed)."""
    passed = re.search(r"^\S*\s*pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^\S*\s*fail (\d+)$", output, re.MULTILINE)
    return int(passed.group(1)) if passed else 0, int(failed.group(1)) if failed else 0


def test_supervisor_suite() -> None:
    """Start, stop, restart, crash restarts, give-up, timeouts, port taken, no orphan."""
    _require_node()
    passed, failed = _counts(_run_suite("test:supervisor"))
    assert failed == 0
    assert passed >= 18, f"the supervisor suite ran only {passed} tests"


@pytest.mark.timeout(900)
def test_renderer_end_to_end() -> None:
    """The built renderer in headless Chromium, against the real host and supervisor."""
    _require_node()
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: `apt-get update && apt-get install -y chromium` "
            "(Debian's package, as .ci/run installs it)"
        )
    passed, failed = _counts(_run_suite("test:e2e"))
    assert failed == 0
    assert passed >= 1, "the end-to-end suite ran no test"
