"""What a plugin's own routes (its `enttok_routes` hook, mounted under `/plugins/<name>/`)
use to read input and refuse it the way the host's routes do.

`body` and `query` apply the host's limits and checks (the media type, the size, the
nesting, text SQLite cannot hold) and then the pydantic model; whatever they refuse, and any
`ApiError` a route raises, leaves as `{"error": {"code", "message", "details"}}` with a 4xx
naming the field, because plugin routes are mounted in the host's app and share its
exception handlers. `QueueFull`, from `PluginHost.submit`, is answered 429 the same way
unless the route catches it. Nothing here is heavier than what the host has loaded already.
"""

from __future__ import annotations

from enttok.api.errors import ApiError
from enttok.api.inputs import body, query
from enttok.errors import QueueFull

__all__ = ["ApiError", "QueueFull", "body", "query"]
