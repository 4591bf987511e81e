"""Two syncs of one account at once: the refresh token rotates on every use, so without the
kit serializing refreshes one sync would spend a revoked token and mark the account
needs_reauth although its stored token is fine. With a cacheable access token the second
sync uses the one the first obtained; with one too short-lived to cache, it refreshes after
the first, with the token the first rotated in."""

from __future__ import annotations

import pytest

from enttok_demo.fake_api import fake_upstream


@pytest.mark.parametrize(("token_lifetime", "refreshes"), [(3600, 1), (60, 2)], ids=["cached", "uncached"])
def test_concurrent_syncs_of_one_account_share_the_rotating_token(enttok_host, token_lifetime, refreshes):
    upstream, _ = fake_upstream(count=40, access_token_ttl=token_lifetime)
    with upstream:
        host = enttok_host(plugins=["demo"])
        settings = {"base_url": upstream.url, "refresh_token": upstream.new_refresh_token()}
        assert (
            host.post("/plugins/demo/accounts", json={"account_id": "acme", "settings": settings}).status_code
            == 201
        )
        first, second = (host.submit("demo.sync", {"account_id": "acme", "page_size": 10}) for _ in range(2))
        jobs = [host.wait_for_job(job_id) for job_id in (first, second)]
        assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], [job["error"] for job in jobs]
        assert [r.status for r in upstream.requests_to("/oauth/token")] == [200] * refreshes
        assert host.get("/plugins/demo/accounts/acme").json()["status"] == "active"
