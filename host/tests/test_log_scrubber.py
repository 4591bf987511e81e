"""The log scrubber on its own (the host-level checks are in test_security.py): it scrubs
query strings in any encoding, only secrets long enough to mean something, and never holds
more than MAX_TRACKED account secrets, forgetting replaced ones."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from enttok.logs import MAX_TRACKED, MIN_SECRET_LENGTH, REDACTED, Scrubber


def test_query_strings_are_scrubbed_whatever_the_encoding() -> None:
    token = secrets.token_hex(16) + "+/="
    every_byte = "".join(f"%{b:02x}" for b in token.encode())
    for query in (
        f"token={token}",
        f"token={quote(token, safe='')}",
        f"%74oken={every_byte}",
        f"a=1&token={token}",
    ):
        line = f'127.0.0.1:5000 - "WebSocket /events?{query}" [accepted]'
        scrubbed = Scrubber().scrub(line)
        assert scrubbed == f'127.0.0.1:5000 - "WebSocket /events?{REDACTED}" [accepted]', scrubbed
    assert Scrubber().scrub("is it done? yes") == "is it done? yes"  # a question is no query


def test_a_short_secret_is_not_scrubbed() -> None:
    scrubber = Scrubber()
    scrubber.track("e")
    scrubber.track("x" * (MIN_SECRET_LENGTH - 1))
    assert scrubber.scrub("every line keeps its letters") == "every line keeps its letters"
    assert len(scrubber) == 0


def test_tracked_secrets_are_bounded_and_forgotten_when_replaced() -> None:
    scrubber = Scrubber()
    scrubber.pin("host-token-" + "0" * 16)
    tracked = [secrets.token_hex(12) for _ in range(MAX_TRACKED + 10)]
    for secret in tracked:
        scrubber.track(secret)
    assert len(scrubber) == MAX_TRACKED + 1  # the pinned token is never crowded out
    assert scrubber.scrub(tracked[0]) == tracked[0]  # the least recently used went first
    assert scrubber.scrub(f"a {tracked[-1]} b") == f"a {REDACTED} b"
    assert scrubber.scrub("host-token-" + "0" * 16) == REDACTED
    scrubber.forget(tracked[-1])
    assert scrubber.scrub(tracked[-1]) == tracked[-1]
    assert len(scrubber) == MAX_TRACKED
