"""The plugin's routes under schemathesis (`enttok.testing.fuzz_routes`): generated requests to
every `/plugins/claude/` operation of the host's `/openapi.json`, valid and invalid by the
schema, must get no 5xx, only documented statuses and content types, and a 4xx for invalid
data."""

from __future__ import annotations

from claude_host import start

from enttok.testing import fuzz_routes
from enttok_claude.routes import routes

EXAMPLES = 25
PATHS = {f"/plugins/claude{route.path}" for route in routes}


def test_every_claude_route_answers_generated_input_without_a_server_error(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    created = host.post("/plugins/claude/session", json={"title": "known"}).json()
    known = {"/plugins/claude/sessions/{session_id}": {"session_id": created["session_id"]}}

    report = fuzz_routes(host, PATHS, path_parameters=known, examples=EXAMPLES)
    assert len(report.operations) == 7, report.operations
    assert report.requests >= 7 * EXAMPLES
    assert any(status >= 400 for status in report.statuses), report.statuses
    assert any(status < 300 for status in report.statuses), report.statuses
