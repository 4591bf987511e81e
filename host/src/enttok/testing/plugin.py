"""The pytest plugin behind `enttok.testing` (entry point `pytest11`): installing enttok
gives any connector's test suite these fixtures.

    def test_sync(enttok_host):
        host = enttok_host(plugins=["demo"])
        job = host.run("demo.sleep", {"seconds": 0.1, "steps": 2})
        assert job["status"] == "succeeded"
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from enttok.testing.host import RunningHost, start_host


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
