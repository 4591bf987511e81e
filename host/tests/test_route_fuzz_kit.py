"""`enttok.testing.fuzz_routes` passes routes that keep their `/openapi.json` promises and fails,
naming the operation, those that do not: a 500, a 2xx for a body the schema refuses, a path
the document does not have. The routes are a test plugin's (support/fuzz_targets.py) on the
real host."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from enttok.testing import RouteFuzzReport, RunningHost, fuzz_routes, start_host

SUPPORT = Path(__file__).parent / "support"
PREFIX = "/plugins/fuzz_targets"
NOTES = [f"{PREFIX}/notes", f"{PREFIX}/notes/{{note_id}}"]
EXAMPLES = 5


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = start_host(
        tmp_path_factory.mktemp("fuzz_targets"),
        plugins=[],
        plugin_modules={"fuzz_targets": "fuzz_targets"},
        pythonpath=[SUPPORT],
    )
    yield running
    running.close()


def test_routes_that_keep_their_promises_pass_and_the_report_counts_them(host: RunningHost) -> None:
    report = fuzz_routes(
        host, NOTES, path_parameters={f"{PREFIX}/notes/{{note_id}}": {"note_id": "n1"}}, examples=EXAMPLES
    )
    assert isinstance(report, RouteFuzzReport)
    assert report.operations == (f"GET {PREFIX}/notes/{{note_id}}", f"POST {PREFIX}/notes")
    assert report.requests >= 4 * EXAMPLES  # valid and invalid for each, and on the known id
    assert report.statuses.get(201), report.statuses  # a valid note added
    assert report.statuses.get(200), report.statuses  # only the known id reads one
    assert report.statuses.get(422) and report.statuses.get(404), report.statuses


def test_without_known_path_parameters_no_generated_id_reaches_a_note(host: RunningHost) -> None:
    report = fuzz_routes(host, [f"{PREFIX}/notes/{{note_id}}"], examples=EXAMPLES)
    assert 200 not in report.statuses and report.statuses.get(404), report.statuses


def test_a_route_answering_500_fails_naming_the_operation(host: RunningHost) -> None:
    with pytest.raises(AssertionError, match=rf"GET {PREFIX}/crash: Server error") as failed:
        fuzz_routes(host, [*NOTES, f"{PREFIX}/crash"], examples=EXAMPLES)
    assert f"{PREFIX}/notes" not in str(failed.value), "a route that keeps its promises was blamed"


def test_a_route_accepting_a_body_the_schema_refuses_fails_naming_the_operation(host: RunningHost) -> None:
    with pytest.raises(AssertionError, match=rf"POST {PREFIX}/lenient: Schema-violating request accepted"):
        fuzz_routes(host, [f"{PREFIX}/lenient"], examples=EXAMPLES)


def test_a_path_missing_from_the_document_fails_naming_it(host: RunningHost) -> None:
    with pytest.raises(AssertionError, match=rf"{PREFIX}/nowhere"):
        fuzz_routes(host, [*NOTES, f"{PREFIX}/nowhere"], examples=EXAMPLES)


def test_arguments_that_would_fuzz_less_than_asked_are_refused(host: RunningHost) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{PREFIX}/notes/{{note_id}}")):
        fuzz_routes(
            host, [f"{PREFIX}/notes"], path_parameters={f"{PREFIX}/notes/{{note_id}}": {"note_id": "n1"}}
        )
    with pytest.raises(ValueError, match="collection of path templates"):
        fuzz_routes(host, f"{PREFIX}/notes")  # one path, not a list of its characters
    with pytest.raises(ValueError, match="collection of path templates"):
        fuzz_routes(host, [])


def test_the_kit_loads_without_importing_schemathesis() -> None:
    probe = (
        "import sys, enttok.testing\n"
        "enttok.testing.fuzz_routes\n"
        "print(','.join(m for m in ('schemathesis', 'hypothesis', 'requests') if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"importing fuzz_routes imported {loaded.stdout.strip()}"
