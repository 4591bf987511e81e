"""A plugin's HTTP routes under schemathesis, driven by the host's own `/openapi.json`.

What `documented(...)` says about a route (its body, query, statuses, content types) is what
the desktop app relies on, so it is also what a fuzzer can hold the route to: generated
requests, valid and invalid by the document, sent to the real host over loopback, each answer
checked against the document. One call gives a connector's routes the check the host's own
routes get in host/tests/test_fuzz.py.

schemathesis, hypothesis and requests are imported when `fuzz_routes` runs, not with this
module: `enttok.testing` is loaded by every pytest run and works without them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enttok.testing.host import RunningHost

#: How much of schemathesis's account of a finding (request, response, curl line) is kept.
FINDING_CHARS = 2000


@dataclass(frozen=True)
class RouteFuzzReport:
    """What a `fuzz_routes` run reached, for a test to assert it reached enough: a run whose
    every request was refused (a missing token, a 404 for every generated id) passes the
    checks too."""

    #: Each operation fuzzed, as `"METHOD /path"`, sorted.
    operations: tuple[str, ...]
    #: Requests sent and answered.
    requests: int
    #: Status code -> how many answers had it.
    statuses: Mapping[int, int]


def fuzz_routes(
    host: RunningHost,
    paths: Collection[str],
    *,
    path_parameters: Mapping[str, Mapping[str, str]] | None = None,
    examples: int = 25,
    seed: int = 20261204,
) -> RouteFuzzReport:
    """Fuzz every operation of `paths` (path templates as `/openapi.json` writes them, e.g.
    `/plugins/my_tracker/items/{item_id}`) on `host`, over real HTTP to `host.url` only.

    Each operation gets `examples` requests valid by the document and, if it takes any input,
    `examples` invalid ones (the token left out among them); `path_parameters` maps a path to
    real values for its parameters (`{"item_id": "42"}`), for `examples` more requests that
    reach past a 404. Every answer must be no 5xx, a documented status with a documented
    content type, and a 4xx for invalid input. Generation is fixed by `seed`, so a run repeats.

    Raises AssertionError listing each distinct finding (operation, check, request and
    response), or naming the paths that are not in `/openapi.json`; ValueError when `paths`
    is empty or one string, or `path_parameters` names a path not in it (a typo would
    silently lose coverage). Needs schemathesis (in the workspace's dev group).
    """
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    if isinstance(paths, str) or not paths:
        raise ValueError(f"paths must be a collection of path templates, not {paths!r}")
    known = dict(path_parameters or {})
    if strays := sorted(set(known) - set(paths)):
        raise ValueError(f"path_parameters names paths not being fuzzed: {strays}")
    answer = host.get("/openapi.json")
    assert answer.status_code == 200, f"GET /openapi.json answered {answer.status_code}: {answer.text}"
    document = answer.json()
    if missing := sorted(set(paths) - set(document["paths"])):
        raise AssertionError(f"not operations of the host's /openapi.json: {missing}")

    config = schemathesis.Config.from_dict({"auth": {"openapi": {"token": {"api_key": host.token}}}})
    schema = schemathesis.openapi.from_dict(document, config=config)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations() if result.ok().path in paths),
        key=lambda operation: operation.label,
    )
    checks = [
        schemathesis.checks.not_a_server_error,
        schemathesis.checks.status_code_conformance,
        schemathesis.checks.content_type_conformance,
        schemathesis.checks.negative_data_rejection,
    ]
    findings: dict[tuple[str, str], str] = {}
    statuses: Counter[int] = Counter()
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1, whatever proxy the environment names
        transport = {"base_url": host.url, "session": session, "timeout": 30}
        for operation in operations:
            for strategy in _strategies(operation, known.get(operation.path)):

                @fixed_seed(seed)
                @settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def send(case: schemathesis.Case) -> None:
                    response = case.call(**transport)
                    statuses[response.status_code] += 1
                    try:
                        case.validate_response(response, checks=checks, transport_kwargs=transport)
                    except schemathesis.errors.FailureGroup as group:
                        for failure in group.exceptions:
                            key = (case.operation.label, failure.title)
                            findings.setdefault(key, str(group)[:FINDING_CHARS])

                send()
    if findings:
        raise AssertionError(
            f"{len(findings)} finding(s) fuzzing {len(operations)} operation(s):\n\n"
            + "\n\n".join(f"{label}: {title}\n{account}" for (label, title), account in findings.items())
        )
    return RouteFuzzReport(
        operations=tuple(operation.label for operation in operations),
        requests=sum(statuses.values()),
        statuses=dict(statuses),
    )


def _strategies(operation: Any, known: Mapping[str, str] | None) -> list[Any]:
    """Valid requests; invalid ones when there is input to get wrong; valid ones on real ids."""
    from schemathesis import GenerationMode

    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    if list(operation.iter_parameters()) or operation.body:
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    if known:
        strategies.append(operation.as_strategy(path_parameters=dict(known)))
    return strategies
