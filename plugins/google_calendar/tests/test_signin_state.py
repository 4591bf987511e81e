"""The sign-in's own bookkeeping, in-process: a `state` is good once and not for long, and
the PKCE challenge is RFC 7636's S256."""

from __future__ import annotations

from enttok_google_calendar.signin import SignIns, challenge


def test_a_state_is_spent_once() -> None:
    sign_ins = SignIns()
    sign_in = sign_ins.start("http://127.0.0.1:1/cb")
    assert sign_ins.spend("another") is None
    assert sign_ins.spend(sign_in.state) is sign_in
    assert sign_ins.spend(sign_in.state) is None
    assert sign_ins.outcome(sign_in.state) == {"status": "exchanging"}


def test_a_state_expires() -> None:
    sign_ins = SignIns(lifetime=-1.0)  # already past its expiry
    sign_in = sign_ins.start("http://127.0.0.1:1/cb")
    assert sign_ins.outcome(sign_in.state) == {"status": "expired"}
    assert sign_ins.spend(sign_in.state) is None


def test_states_and_verifiers_are_fresh_and_long() -> None:
    sign_ins = SignIns()
    first, second = sign_ins.start("u"), sign_ins.start("u")
    assert first.state != second.state and first.verifier != second.verifier
    assert len(first.state) >= 43 and 43 <= len(first.verifier) <= 128


def test_s256_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B
    assert (
        challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
