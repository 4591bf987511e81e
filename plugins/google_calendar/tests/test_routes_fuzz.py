"""The plugin's JSON routes under schemathesis, as plugins/claude's are: generated requests to
each operation of the host's `/openapi.json` that the plugin's `routes` declare, valid and
invalid by the schema, must get no 5xx, only documented statuses and content types, and a 4xx
for invalid data.

Left out: the host's own account routes mounted beside them (the host's suite covers those),
and `oauth/callback`, the browser's page, answered in HTML whatever comes (test_signin.py
drives it as the browser does)."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from fake_google import FakeGoogle
from google_host import PREFIX, add_account, open_host, sync
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode

from enttok_google_calendar.routes import CALLBACK, routes

EXAMPLES = 25
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.negative_data_rejection,
]
JSON_ROUTES = {f"{PREFIX}{route.path}" for route in routes} - {CALLBACK}


def test_every_google_calendar_route_answers_generated_input_without_a_server_error(enttok_host) -> None:
    with FakeGoogle() as fake:
        host = open_host(enttok_host, fake)
        add_account(host, fake)
        sync(host)
        started = host.post(f"{PREFIX}/oauth/start", json={}).json()
        config = schemathesis.Config.from_dict({"auth": {"openapi": {"token": {"api_key": host.token}}}})
        schema = schemathesis.openapi.from_dict(host.get("/openapi.json").json(), config=config)
        session = requests.Session()
        session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
        transport = {"base_url": host.url, "session": session, "timeout": 30}

        operations = [
            result.ok() for result in schema.get_all_operations() if result.ok().path in JSON_ROUTES
        ]
        assert len(operations) == len(JSON_ROUTES) == 6, [operation.label for operation in operations]
        findings: dict[tuple[str, str], str] = {}
        answered: list[int] = []
        for operation in operations:
            strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
            if list(operation.iter_parameters()) or operation.body:
                strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
            if operation.path == f"{PREFIX}/oauth/status/{{state}}":
                strategies.append(operation.as_strategy(path_parameters={"state": started["state"]}))
            for strategy in strategies:

                @seed(20261205)
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case: schemathesis.Case) -> None:
                    response = case.call(**transport)
                    answered.append(response.status_code)
                    try:
                        case.validate_response(response, checks=CHECKS, transport_kwargs=transport)
                    except schemathesis.errors.FailureGroup as group:
                        for failure in group.exceptions:
                            findings.setdefault((case.operation.label, failure.title), _report(group))

                run()
        assert not findings, "\n\n".join(
            f"{label}: {title}\n{report}" for (label, title), report in findings.items()
        )
        assert len(answered) >= 6 * EXAMPLES
        assert any(status >= 400 for status in answered) and any(status < 300 for status in answered)


def _report(group: Any) -> str:
    return str(group)[:2000]
