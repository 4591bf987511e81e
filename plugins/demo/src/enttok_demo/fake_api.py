"""The demo connector's upstream, faked: a small paged "items" API behind OAuth.

    GET /items?after=<seq>&limit=<n>   Authorization: Bearer <access token>
    -> {"items": [{"id", "seq", "title", "author", "updated_at"}], "has_more": bool}

Items are numbered from 1 and come in `seq` order; `after` is the last `seq` already seen,
which makes it the connector's cursor. It answers 401 to a missing or expired token, and
sends `X-RateLimit-Remaining`/`X-RateLimit-Reset` when a budget is set. The test kit's
`FakeUpstream` serves it and adds OAuth and the faults.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from enttok.testing import FakeUpstream

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MAX_PAGE = 100


class ItemsApi:
    def __init__(self, count: int) -> None:
        self.count = count
        self.budget: int | None = None
        """Requests left before a 429; None for no limit."""
        self.budget_reset_after = 60.0

    def item(self, seq: int) -> dict[str, object]:
        return {
            "id": f"item-{seq}",
            "seq": seq,
            "title": f"Item number {seq}",
            "author": f"user{seq % 7}",
            "updated_at": (EPOCH + timedelta(minutes=seq)).isoformat().replace("+00:00", "Z"),
        }

    async def items(self, request: Request) -> JSONResponse:
        upstream: FakeUpstream = request.app.state.upstream
        if not upstream.authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            after = int(request.query_params.get("after") or 0)
            limit = min(MAX_PAGE, max(1, int(request.query_params.get("limit") or MAX_PAGE)))
        except ValueError:
            return JSONResponse({"error": "after and limit must be integers"}, status_code=400)
        headers = {}
        if self.budget is not None:
            reset = str(int(upstream.clock.now() + self.budget_reset_after))
            if self.budget <= 0:
                headers = {
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": reset,
                    "retry-after": f"{self.budget_reset_after:g}",
                }
                return JSONResponse({"error": "rate limited"}, status_code=429, headers=headers)
            self.budget -= 1
            headers = {"x-ratelimit-remaining": str(self.budget), "x-ratelimit-reset": reset}
        last = min(self.count, after + limit)
        body = {
            "items": [self.item(seq) for seq in range(after + 1, last + 1)],
            "has_more": last < self.count,
        }
        return JSONResponse(body, headers=headers)

    def routes(self) -> list[Route]:
        return [Route("/items", self.items, methods=["GET"])]


def fake_upstream(count: int = 250, **options: float) -> tuple[FakeUpstream, ItemsApi]:
    """A ready-to-start fake of the demo API with `count` items."""
    api = ItemsApi(count)
    return FakeUpstream(api.routes(), **options), api


def pages_requested(upstream: FakeUpstream) -> list[int]:
    """The `after` of every page request the fake has seen, in order."""
    return [int(r.query.get("after") or 0) for r in upstream.requests_to("/items")]
