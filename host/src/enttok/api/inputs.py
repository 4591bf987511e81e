"""Reading a request's JSON body and query string into a pydantic model, or a clear 4xx."""

from __future__ import annotations

import json
import math
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from enttok.api.errors import ApiError, invalid

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1024 * 1024


async def body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"The body is over {MAX_BODY} bytes.")
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {error}.") from None
    if (where := _non_finite(data)) is not None:
        raise ApiError(
            422,
            "invalid_input",
            f"Invalid input: {where or 'the body'}: numbers must be finite.",
            [{"field": where, "message": "numbers must be finite", "type": "finite_number"}],
        )
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "invalid_input",
            "The body must be a JSON object.",
            [{"field": "", "message": "not an object"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(error) from None


def query(request: Request, model: type[M]) -> M:
    params = request.query_params
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        raise ApiError(422, "invalid_input", f"Query parameter {repeated[0]} is given more than once.")
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        raise invalid(error) from None


def _non_finite(value: object, path: str = "") -> str | None:
    """The dotted path of the first infinite or NaN number (JSON's `1e400`, `Infinity`), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None
