"""The plugin's routes under schemathesis: generated requests to every `/plugins/claude/`
operation of the host's `/openapi.json`, valid and invalid by the schema, must get no 5xx,
only documented statuses and content types, and a 4xx for invalid data."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from claude_host import start
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode

EXAMPLES = 25
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.negative_data_rejection,
]


def test_every_claude_route_answers_generated_input_without_a_server_error(enttok_host, tmp_path) -> None:
    host, _ = start(enttok_host, tmp_path)
    created = host.post("/plugins/claude/session", json={"title": "known"}).json()
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"token": {"api_key": host.token}}}})
    schema = schemathesis.openapi.from_dict(host.get("/openapi.json").json(), config=config)
    session = requests.Session()
    session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
    transport = {"base_url": host.url, "session": session, "timeout": 30}

    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/plugins/claude/")
    ]
    assert len(operations) == 7, [operation.label for operation in operations]
    findings: dict[tuple[str, str], str] = {}
    answered: list[int] = []
    for operation in operations:
        strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
        if list(operation.iter_parameters()) or operation.body:
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        if operation.path == "/plugins/claude/sessions/{session_id}":
            strategies.append(operation.as_strategy(path_parameters={"session_id": created["session_id"]}))
        for strategy in strategies:

            @seed(20261204)
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
    assert len(answered) >= 7 * EXAMPLES
    assert any(status >= 400 for status in answered) and any(status < 300 for status in answered)


def _report(group: Any) -> str:
    return str(group)[:2000]
