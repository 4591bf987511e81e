"""`/openapi.json`, built from the routes themselves: an endpoint marked with `@documented`
contributes its pydantic models; any other route (a plugin's) its methods and docstring."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from enttok.api.models import ErrorBody

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"


def documented(
    summary: str,
    *,
    response: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
    errors: Iterable[int] = (),
    public: bool = False,
) -> Callable[[F], F]:
    """Describe an endpoint for `/openapi.json`; plugins may use it on their own routes.
    `public` marks a route that needs no token: the host's `/health`, or a plugin's route
    with a fixed path that the system browser reaches (an OAuth callback), for GET only.
    The Host and Origin checks still apply (see `api/app.py` and `api/security.py`)."""

    def mark(endpoint: F) -> F:
        endpoint.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "response": response,
            "body": body,
            "query": query,
            "status": status,
            "errors": tuple(errors),
            "public": public,
        }
        return endpoint

    return mark


def build(routes: Iterable[BaseRoute], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for path, methods, endpoint in _walk(routes, ""):
        for method in methods:
            paths.setdefault(path, {})[method.lower()] = _operation(path, endpoint, schemas)
    _ref(ErrorBody, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "enttok host", "version": version},
        "servers": [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "8765"}}}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Backend-Token"}},
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterable[tuple[str, list[str], Any]]:
    for route in routes:
        if isinstance(route, Route):
            methods = sorted(set(route.methods or ["GET"]) - {"HEAD"})
            yield prefix + route.path, methods, route.endpoint
        elif isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            yield prefix + route.path, ["GET"], route.endpoint


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _operation(path: str, endpoint: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    meta = getattr(endpoint, "__openapi__", None) or {}
    summary = meta.get("summary") or (inspect.getdoc(endpoint) or path).splitlines()[0]
    operation: dict[str, Any] = {"summary": summary, "responses": {}}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_parameters(path)
    ]
    if query := meta.get("query"):
        for name, field in query.model_fields.items():
            schema = query.model_json_schema()["properties"][field.alias or name]
            parameters.append(
                {"name": field.alias or name, "in": "query", "required": False, "schema": schema}
            )
    if parameters:
        operation["parameters"] = parameters
    if body := meta.get("body"):
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body, schemas)}},
        }
    status = str(meta.get("status", 200))
    if response := meta.get("response"):
        content = {"application/json": {"schema": _ref(response, schemas)}}
        operation["responses"][status] = {"description": "OK", "content": content}
    else:
        operation["responses"][status] = {"description": "OK"}
    error_content = {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}
    errors = {403, *meta.get("errors", ())}
    if meta.get("public"):
        operation["security"] = []
    else:
        errors.add(401)
    if body:
        errors |= {400, 413, 415, 422}  # what reading any JSON body can answer (api/inputs.py)
    for code in sorted(errors):
        operation["responses"][str(code)] = {"description": "Error", "content": error_content}
    return operation


def _path_parameters(path: str) -> list[str]:
    return [
        part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{") and part.endswith("}")
    ]
