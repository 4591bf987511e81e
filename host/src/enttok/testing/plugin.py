"""The pytest plugin behind `enttok.testing` (entry point `pytest11`): installing enttok
gives any connector's test suite these fixtures.

    def test_sync(enttok_host):
        host = enttok_host(plugins=["demo"])
        job = host.run("demo.sleep", {"seconds": 0.1, "steps": 2})
        assert job["status"] == "succeeded"

and a summary section, "enttok suite figures", of what the suites counted through the
`suite_figures` fixture (see `enttok.testing.figures`), printed at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enttok.testing.figures import SuiteFigures
from enttok.testing.host import RunningHost, start_host

_FIGURES = pytest.StashKey[SuiteFigures]()


@pytest.fixture
def enttok_host(tmp_path: Path) -> Iterator[Callable[..., RunningHost]]:
    """A factory: `enttok_host(plugins=[...], ...)` starts a host (see `start_host`); every
    host it started is stopped when the test ends. A second call with the same `name` reuses
    its data dir, e.g. to restart after a kill."""
    started: list[RunningHost] = []

    def factory(name: str = "host", **options: Any) -> RunningHost:
        host = start_host(tmp_path / name, **options)
        started.append(host)
        return host

    yield factory
    for host in started:
        host.close()


@pytest.fixture(scope="session")
def suite_figures(pytestconfig: pytest.Config) -> SuiteFigures:
    """The run's `SuiteFigures`: `suite_figures.count(suite, what, n=1)` after the assertion
    that proves it, `suite_figures.note(suite, line)`; printed when the run ends."""
    return pytestconfig.stash.setdefault(_FIGURES, SuiteFigures())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One section with a line per suite that reported figures; nothing if none did."""
    figures = config.stash.get(_FIGURES, None)
    if not figures:
        return
    terminalreporter.write_sep("=", "enttok suite figures")
    for line in figures.lines():
        terminalreporter.write_line(line)
