"""The plugin's JSON routes under schemathesis (`enttok.testing.fuzz_routes`), as
plugins/claude's are: generated requests to each operation of the host's `/openapi.json` that
the plugin's `routes` declare, valid and invalid by the schema, must get no 5xx, only
documented statuses and content types, and a 4xx for invalid data.

Left out: the host's own account routes mounted beside them (the host's suite covers those),
and `oauth/callback`, the browser's page, answered in HTML whatever comes (test_signin.py
drives it as the browser does)."""

from __future__ import annotations

from fake_google import FakeGoogle
from google_host import PREFIX, add_account, open_host, sync

from enttok.testing import fuzz_routes
from enttok_google_calendar.routes import CALLBACK, routes

EXAMPLES = 25
JSON_ROUTES = {f"{PREFIX}{route.path}" for route in routes} - {CALLBACK}


def test_every_google_calendar_route_answers_generated_input_without_a_server_error(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        started = host.post(f"{PREFIX}/oauth/start", json={}).json()
        known = {f"{PREFIX}/oauth/status/{{state}}": {"state": started["state"]}}

        report = fuzz_routes(host, JSON_ROUTES, path_parameters=known, examples=EXAMPLES, seed=20261205)
        assert len(report.operations) == len(JSON_ROUTES) == 6, report.operations
        assert report.requests >= 6 * EXAMPLES
        assert any(status >= 400 for status in report.statuses), report.statuses
        assert any(status < 300 for status in report.statuses), report.statuses
