"""`JSONResponse`: Starlette's, except that no stored text can make a response fail.

Starlette writes JSON as UTF-8 with non-ASCII characters as they are, which fails on a lone
UTF-16 surrogate (`"\\ud800"`, valid JSON, not valid UTF-8). The API refuses such text on
the way in, but a row stored before that check, or written by a plugin, must still be
readable: those few responses are written with `\\u` escapes instead, which every JSON
parser reads back to the same string.
"""

from __future__ import annotations

import json
from typing import Any

from starlette import responses


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")
