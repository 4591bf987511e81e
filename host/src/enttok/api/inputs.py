"""Reading a request's JSON body and query string into a pydantic model, or a clear 4xx.

Every JSON body the API takes comes through `body`, so the checks live in one place, in
the order that spends the least on a bad request: the media type (415), the size (413,
from `GuardMiddleware`, which bounds every body), the nesting depth before any recursive
parse (400), the JSON itself (400), then text that SQLite and UTF-8 cannot hold and numbers JSON cannot write
back (422, naming the field), and only then the model. Nothing has been written by then.
"""

from __future__ import annotations

import json
import math
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from enttok.api.errors import ApiError, invalid

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1024 * 1024
#: Arrays and objects nested deeper than this are refused before parsing (docs/api.md: 400).
MAX_DEPTH = 64
JSON_TYPES = ("application/json",)

# A JSON string (escapes included) or one bracket: scanning with it counts nesting at C speed
# and never mistakes a bracket inside a string for structure.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


async def body(request: Request, model: type[M]) -> M:
    """The request's JSON object as `model`, or an `ApiError` (415, 413, 400, 422 naming the
    field) that the app's handlers answer: the same checks for the host's routes and a plugin's.
    No body at all (none sent, none declared) reads as `{}`: a model whose fields are all
    optional takes a bare POST, and any other names the fields it misses."""
    require_json(request)
    raw = await request.body()  # at most MAX_BODY bytes: GuardMiddleware stops it there
    data = {} if not raw and "content-type" not in request.headers else parse_json(raw)
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


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON: a form or plain text is never guessed at."""
    declared = request.headers.get("content-type")
    sends_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if declared is None and not sends_body:
        return  # no body at all: the model says what is missing
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    is_json = media_type in JSON_TYPES or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if not is_json:
        shown = f"{media_type!r}" if media_type else "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"The body must be sent as Content-Type: application/json (got {shown}).",
            [{"field": "Content-Type", "message": "must be application/json"}],
        )


def too_large() -> ApiError:
    """The 413 for a body over MAX_BODY."""
    return ApiError(
        413,
        "payload_too_large",
        f"The body is over {MAX_BODY} bytes.",
        headers={"Connection": "close"},  # the rest of the body is left unread on the socket
    )


def parse_json(raw: bytes) -> object:
    """`raw` as JSON, refused with a 4xx when it is too deep, malformed, or holds what the
    host could not store or send back."""
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        raise ApiError(
            400,
            "too_deeply_nested",
            f"The body nests arrays and objects more than {MAX_DEPTH} levels deep.",
            [{"field": "", "message": f"deeper than {MAX_DEPTH} levels"}],
        )
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {error}.") from None
    if (problem := unstorable(data)) is not None:
        where, message, kind = problem
        raise ApiError(
            422,
            "invalid_input",
            f"Invalid input: {where or 'the body'}: {message}.",
            [{"field": where, "message": message, "type": kind}],
        )
    return data


def nesting_depth(raw: bytes) -> int:
    depth = deepest = 0
    for match in _STRUCTURE.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def unstorable(value: object) -> tuple[str, str, str] | None:
    """(dotted path, why, error type) of the first value the host must refuse, or None:
    a lone UTF-16 surrogate (`"\\ud800"`: not UTF-8, so SQLite and every response would
    fail on it), a NUL character (C strings, and most tools reading the database, stop at
    it), or an infinite or NaN number (`1e400`: JSON cannot write it back). Keys count too.

    Iterative, with the path built only on a hit; the depth was bounded before parsing."""
    pending: list[tuple[tuple[str, ...], object]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if (why := _text_problem(item)) is not None:
                return ".".join(path), *why
        elif isinstance(item, float):
            if not math.isfinite(item):
                return ".".join(path), "numbers must be finite", "finite_number"
        elif isinstance(item, dict):
            for key, child in item.items():
                if (why := _text_problem(key)) is not None:
                    return ".".join((*path, key.encode("utf-8", "backslashreplace").decode())), *why
                pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, str(index)), child) for index, child in enumerate(item))
    return None


def _text_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return "text must not contain NUL (\\u0000)", "nul_character"
    if _SURROGATE.search(text) is not None:
        return "text must be valid Unicode (a lone UTF-16 surrogate is not)", "lone_surrogate"
    return None


def query(request: Request, model: type[M]) -> M:
    """The query string as `model`, or an `ApiError` 422 naming the parameter (a parameter
    given twice is refused rather than one of its values silently picked)."""
    params = request.query_params
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        raise ApiError(
            422, "invalid_input", f"Query parameter {repeated[0]} is given more than once.", field=repeated[0]
        )
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        raise invalid(error) from None
