"""What a budget reads as a rate-limit refusal, from the headers providers document."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from enttok.errors import RateLimited
from enttok.ratelimits import RateBudget


@dataclass
class Response:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"retry-after": "30"}, 30),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "120"}, 120),  # seconds left
        (403, {"x-ratelimit-remaining": "4000", "retry-after": "60"}, 60),  # GitHub's secondary limit
    ],
)
def test_refusals_close_the_budget_until_the_reset(status: int, headers: dict[str, str], wait: float) -> None:
    budget = RateBudget("github", "acct")
    told = budget.observe(Response(status, headers))
    assert told == pytest.approx(wait, abs=2)
    with pytest.raises(RateLimited) as refused:
        budget.check()
    assert refused.value.retry_after == pytest.approx(wait, abs=2)


def test_a_plain_403_is_a_refusal_of_access_not_a_limit() -> None:
    budget = RateBudget("github", "acct")
    assert budget.observe(Response(403, {"x-ratelimit-remaining": "4000"})) is None
    budget.check()  # still open


def test_a_limit_learned_elsewhere_closes_the_budget_for_its_wait() -> None:
    budget = RateBudget("google", "acct")
    budget.close_for(90)
    with pytest.raises(RateLimited) as refused:
        budget.check()
    assert refused.value.retry_after == pytest.approx(90, abs=2)
