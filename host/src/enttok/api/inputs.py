"""Reading a request's JSON body and query string into a pydantic model, or a clear 4xx."""

from __future__ import annotations

import json
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
