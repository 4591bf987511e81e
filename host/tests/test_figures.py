"""The suite figures (`enttok.testing.figures`): what the suites count reaches the end of the
run's output, as pytest prints it, through the plugin every suite gets by installing enttok."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enttok.testing import SuiteFigures

REPORTING = """
def test_refusals(suite_figures):
    suite_figures.count("kit check", "requests refused: no token", 2)
    suite_figures.count("kit check", "kills survived")
    suite_figures.count("kit check", "requests refused: wrong token")
    suite_figures.note("kit check", "seed 7")


def test_more(suite_figures):
    suite_figures.count("kit check", "requests refused: no token", 1001)
    suite_figures.count("other suite", "5xx answers", 0)
"""
SILENT = """
def test_nothing_to_report(suite_figures):
    assert suite_figures.lines() == []


def test_no_fixture():
    pass
"""


def run_pytest(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest on one test file in its own directory (its own empty config), with the plugins
    installed in this environment loaded as any suite gets them (entry points)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_kit.py").write_text(source)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *options, "test_kit.py"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("options", [(), ("-q",)], ids=["default", "quiet"])
def test_the_summary_prints_what_the_tests_counted(tmp_path: Path, options: tuple[str, ...]) -> None:
    result = run_pytest(tmp_path, REPORTING, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    (section,) = [i for i, line in enumerate(lines) if " enttok suite figures " in line]
    assert lines[section].strip("= ") == "enttok suite figures", lines[section]
    assert lines[section + 1 : section + 3] == [
        "kit check: 1,004 requests refused (no token 1,003, wrong token 1), 1 kills survived; seed 7",
        "other suite: 0 5xx answers",
    ], result.stdout


def test_nothing_prints_when_no_suite_reported(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, SILENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout
    assert "suite figures" not in result.stdout


def test_lines_group_kinds_and_keep_the_order_first_reported() -> None:
    figures = SuiteFigures()
    assert not figures and figures.lines() == []
    figures.count("b", "plain")
    figures.count("a", "refused: x", 3)
    figures.note("a", "a note")
    figures.count("b", "refused: y", 2)
    figures.count("b", "plain", 4)
    figures.note("c", "only a note")
    assert figures
    assert figures.lines() == [
        "b: 5 plain, 2 refused (y 2)",
        "a: 3 refused (x 3); a note",
        "c: only a note",
    ]


def test_a_figure_only_grows() -> None:
    with pytest.raises(ValueError, match="only grows"):
        SuiteFigures().count("a", "b", -1)
