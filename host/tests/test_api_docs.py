"""docs/api.md, the HTTP API for app developers, against the host itself: every route of the
running host's `/openapi.json` with the statuses it answers and its query limits, and, read
from the host's source, every error code it can put in a response or a job and every event
type it sends, and every job status. A route, a code or an event added without its line on
the page fails here, and so does a line the host no longer backs."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from enttok.api.models import JobStatus
from enttok.events import EventBus
from enttok.exits import Exit
from enttok.settings import HostSettings
from enttok.testing import RunningHost, start_host

ROOT = Path(__file__).resolve().parents[2]
API = (ROOT / "docs" / "api.md").read_text()
SOURCE = ROOT / "host" / "src" / "enttok"


# -- what the source produces


def host_sources() -> list[tuple[Path, ast.Module]]:
    """The host's own modules (the test kit and the plugins speak for themselves)."""
    return [
        (path, ast.parse(path.read_text()))
        for path in sorted(SOURCE.rglob("*.py"))
        if "testing" not in path.relative_to(SOURCE).parts
    ]


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _number(node: ast.AST | None) -> int | None:
    value = node.value if isinstance(node, ast.Constant) else None
    return value if isinstance(value, int) and 400 <= value <= 599 else None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def produced_error_codes() -> dict[str, set[int]]:
    """Every error code the host can put in a response or a job's `error`, with the HTTP
    statuses it is answered with where the source says so (an empty set for a job's).

    Read from the source, so a new code cannot go undocumented: the `code` argument of any
    call to a function or class of the host that takes one (`ApiError(status, code, ...)`,
    `RetryableError(..., code=...)`, `_failed(job, code, ...)`), `code = "..."` in a class
    (with its class's `status`, inherited within the module), `{"code": "..."}`, and
    `(status, "code", message)` refusals."""
    sources = host_sources()
    takes_code: dict[str, int | None] = {}  # callable name -> position of its `code` parameter
    for _, tree in sources:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
                if "code" in names + [a.arg for a in node.args.kwonlyargs]:
                    owner = node.name
                    if node.name == "__init__":
                        owner = next(
                            c.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and node in c.body
                        )
                    takes_code[owner] = names.index("code") if "code" in names else None
    codes: dict[str, set[int]] = {}

    def found(code: str | None, status: int | None = None) -> None:
        if code and re.fullmatch(r"[a-z][a-z0-9_]*", code):
            codes.setdefault(code, set()).update([status] if status else [])

    for _, tree in sources:
        statuses: dict[str, int | None] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (name := _call_name(node)) in takes_code:
                position = takes_code[name]
                status = _number(node.args[0]) if node.args else None
                if position is not None and position < len(node.args):
                    found(_text(node.args[position]), status)
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        found(_text(keyword.value), status)
            elif isinstance(node, ast.ClassDef):
                attributes = {
                    t.id: s.value
                    for s in node.body
                    if isinstance(s, ast.Assign)
                    for t in s.targets
                    if isinstance(t, ast.Name)
                }
                base = next((b.id for b in node.bases if isinstance(b, ast.Name) and b.id in statuses), None)
                statuses[node.name] = _number(attributes.get("status")) or (statuses[base] if base else None)
                found(_text(attributes.get("code")), statuses[node.name])
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _text(key) == "code":
                        found(_text(value))
                    elif _number(key) is not None:
                        found(_text(value), _number(key))  # {413: "payload_too_large", ...}
            elif isinstance(node, ast.Tuple) and len(node.elts) == 3 and _number(node.elts[0]):
                found(_text(node.elts[1]), _number(node.elts[0]))
    return codes


def produced_event_types() -> set[str]:
    """Every event type the host sends: the `type` argument of the event bus's methods."""
    positions = {
        name: list(inspect.signature(method).parameters).index("type") - 1
        for name, method in vars(EventBus).items()
        if inspect.isfunction(method) and "type" in inspect.signature(method).parameters
    }
    types = set()
    for _, tree in host_sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            bus = isinstance(receiver, ast.Attribute | ast.Name) and (
                getattr(receiver, "attr", None) or getattr(receiver, "id", None)
            ) in ("bus", "_bus")
            position = positions.get(node.func.attr)
            if bus and position is not None and position < len(node.args) and _text(node.args[position]):
                types.add(_text(node.args[position]))
    return types


# -- the page


def api_section(title: str) -> str:
    return API.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def api_routes() -> dict[tuple[str, str], str]:
    """(method, path) -> the rest of its row, from the Routes table."""
    rows = re.findall(
        r"^\| (GET|POST|PATCH|DELETE|PUT) \| `([^`]+)` \|(.*)\|\s*$", api_section("Routes"), re.M
    )
    return {(method, path): rest for method, path, rest in rows}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The running host's own description, with a connector's account routes (`demo`'s)."""
    host: RunningHost = start_host(tmp_path_factory.mktemp("openapi") / "host", plugins=["demo"])
    try:
        yield host.get("/openapi.json").json()
    finally:
        host.close()


def operations(openapi: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> operation: the host's routes, and a connector's accounts as
    `/plugins/{plugin}/accounts...`."""
    found = {}
    for path, methods in openapi["paths"].items():
        if path.startswith("/plugins/") and not path.startswith("/plugins/demo/accounts"):
            continue  # a plugin's own route: its plugin documents it
        for method, operation in methods.items():
            found[(method.upper(), path.replace("/plugins/demo/", "/plugins/{plugin}/"))] = operation
    return found


def test_every_route_is_documented_and_every_documented_route_exists(openapi: dict[str, Any]) -> None:
    served, documented = set(operations(openapi)), set(api_routes())
    assert not served - documented, f"docs/api.md does not list {sorted(served - documented)}"
    assert not documented - served, (
        f"docs/api.md lists routes the host does not serve: {sorted(documented - served)}"
    )


def test_every_route_lists_what_it_answers(openapi: dict[str, Any]) -> None:
    rows, wrong = api_routes(), []
    for key, operation in operations(openapi).items():
        if key not in rows:
            continue  # an undocumented route: the test above names it
        answered = {int(status) for status in operation["responses"]} - {401, 403}
        listed = {int(n) for n in re.findall(r"\b([1-5]\d\d)\b", rows[key].rsplit("|", 1)[-1])}
        if answered != listed:
            wrong.append(f"{key}: the host answers {sorted(answered)}, the page lists {sorted(listed)}")
    assert not wrong, "docs/api.md: " + "; ".join(wrong)


def test_every_query_parameter_and_its_limits_are_documented(openapi: dict[str, Any]) -> None:
    rows, missing = api_routes(), []
    for key, operation in operations(openapi).items():
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query" or key not in rows:
                continue
            name, schema, row = parameter["name"], parameter["schema"], rows[key]
            if f"`{name}`" not in row:
                missing.append(f"{key} query `{name}`")
            if "maximum" in schema and f"{schema['minimum']} to {schema['maximum']}" not in row:
                missing.append(f"{key} `{name}` is {schema['minimum']} to {schema['maximum']}")
            if schema.get("default") is not None and f"default {schema['default']}" not in row:
                missing.append(f"{key} `{name}` defaults to {schema['default']}")
            for choice in schema.get("enum", []) + [
                c for s in schema.get("anyOf", []) for c in s.get("enum", [])
            ]:
                if f"`{choice}`" not in API:
                    missing.append(f"{key} `{name}` may be `{choice}`")
    assert not missing, f"docs/api.md does not say: {missing}"


def error_rows() -> dict[str, str]:
    """code -> the rest of its row, from the tables of "Error codes" and "Job error codes"."""
    rows: dict[str, str] = {}
    for code, rest in re.findall(r"^\| `([a-z_]+)` \|(.*)\|\s*$", api_section("Error codes"), re.M):
        rows[code] = rows.get(code, "") + rest  # a code in both tables: both rows
    return rows


def test_every_error_code_the_host_produces_is_documented_with_its_status() -> None:
    produced, rows = produced_error_codes(), error_rows()
    assert len(produced) >= 30, "the source scan found too few codes: did the code move?"
    missing = sorted(set(produced) - set(rows))
    assert not missing, f"docs/api.md's error codes lack {missing}"
    wrong = [
        f"{code} is answered {sorted(statuses)}"
        for code, statuses in produced.items()
        if not all(re.search(rf"\b{status}\b", rows[code]) for status in statuses)
    ]
    assert not wrong, f"docs/api.md gives other statuses: {wrong}"
    stale = sorted(set(rows) - set(produced))
    assert not stale, f"docs/api.md lists codes the host never produces: {stale}"


def test_every_event_type_is_documented() -> None:
    produced = produced_event_types()
    rows = set(re.findall(r"^\| `([a-z_.]+)` \|", api_section("Events"), re.M))
    assert {"job.status", "job.progress", "log", "ratelimit", "account.status"} <= produced
    assert not produced - rows, f"docs/api.md's events lack {sorted(produced - rows)}"
    assert not rows - produced, f"docs/api.md lists events the host never sends: {sorted(rows - produced)}"
    assert "| `<plugin>.<type>` |" in API


def test_job_statuses_are_documented() -> None:
    jobs = api_section("Jobs")
    missing = [status for status in JobStatus.__args__ if f"`{status}`" not in jobs]
    assert not missing, f"docs/api.md's Jobs section does not name the statuses {missing}"


def test_host_settings_are_documented_with_their_limits() -> None:
    settings = api_section("Settings")
    for name, field in HostSettings.model_fields.items():
        assert f"| `{name}` |" in settings, f"docs/api.md's Settings lack `{name}`"
        bounds = {type(m).__name__: m for m in field.metadata}
        if "Ge" in bounds and "Le" in bounds:
            assert f"{bounds['Ge'].ge} to {bounds['Le'].le}" in settings, f"`{name}`'s limits"
        if isinstance(field.default, int):
            assert f"default {field.default}" in settings, f"`{name}`'s default"


def test_exit_codes_are_documented() -> None:
    rows = dict(re.findall(r"^\| (\d+) \| `([a-z_]+)` \|", api_section("Starting the host"), re.M))
    declared = {str(int(code)): code.name.lower() for code in Exit}
    assert rows == declared, f"docs/api.md's exit codes differ from enttok.exits: {declared}"
