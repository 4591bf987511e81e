"""The checks of what the kit promises per account, which every connector must keep: a sync
submitted without an account covers every account that can sync (`ctx.fan_out_accounts`),
each account shows its last sync, and deleting an account takes its rows and timeline
entries with it."""

from __future__ import annotations

from typing import Any

import pytest

from enttok.testing.conformance.base import ACCOUNT, ConformanceBase, Start
from enttok.testing.host import RunningHost
from enttok.testing.upstream import FakeUpstream

OTHER = "conformance-2"
"""The second account of the checks that need two."""
STALE = "conformance-stale"
"""An account whose credentials the upstream refused: it must sign in again."""


class AccountChecks(ConformanceBase):
    def test_sync_without_account_covers_every_account(
        self, host: RunningHost, upstream: FakeUpstream
    ) -> None:
        self._skip_without_fan_out(host)
        self.add_account(host, upstream, OTHER)
        fan_out = self._sync_without_account(host)
        by_account = self._synced_accounts(host, fan_out)
        missing = {ACCOUNT, OTHER} - by_account.keys()
        assert not missing, (
            f"a sync without an account left accounts out: no {self.sync_job_type} job for {sorted(missing)};"
            " submit one job per account with ctx.fan_out_accounts(payload)"
        )
        for account_id in (ACCOUNT, OTHER):
            job = host.wait_for_job(by_account[account_id], timeout=self.timeout)
            assert job["status"] == "succeeded", (
                f"the sync of {account_id} ended {job['status']}: {job['error']}"
            )
            self.assert_complete(host, upstream, account_id)

    def test_sync_without_account_skips_accounts_that_must_sign_in_again(
        self, start: Start, upstream: FakeUpstream
    ) -> None:
        """A schedule must not sync, every time it fires, an account the upstream refused."""
        host = start()
        self._skip_without_fan_out(host)
        self.add_account(host, upstream, STALE)
        self.revoke_refresh_tokens(upstream)
        self.expire_access_tokens(upstream)
        refused = host.wait_for_job(self.submit_sync(host, STALE), timeout=self.timeout)["job_id"]
        status = self._account(host, STALE)["status"]
        assert status == "needs_reauth", (
            f"with its credentials revoked, the account is {status}, not needs_reauth"
            " (test_revoked_refresh_token_fails_auth names the defect)"
        )
        self.add_account(host, upstream)  # signed in after the revocation: it can sync
        by_account = self._synced_accounts(host, self._sync_without_account(host), refused)
        assert STALE not in by_account, (
            f"a sync without an account synced an account that must sign in again: {STALE} is needs_reauth,"
            f" yet job {by_account.get(STALE)} syncs it; ctx.fan_out_accounts(payload) skips such accounts"
        )
        assert ACCOUNT in by_account, f"a sync without an account left accounts out: no job for {ACCOUNT}"

    def test_last_sync_shown_per_account(self, host: RunningHost, upstream: FakeUpstream) -> None:
        job = self.sync(host)
        last = self._account(host, ACCOUNT)["last_sync"]
        assert last is not None, (
            "no last sync shown: the account's last_sync is null after a sync; the host finds the account"
            " of a sync by its payload's account_id: name the payload's field account_id"
        )
        assert (last["job_id"], last["status"]) == (job["job_id"], "succeeded"), (
            f"the wrong last sync shown: {last['job_id']} ({last['status']}), not the sync {job['job_id']} that"
            " just succeeded"
        )
        stored = len(self.stored(host, ACCOUNT))
        assert last["rows"] >= stored, (
            f"a last sync that does not count its rows: the sync stored {stored} rows yet last_sync.rows"
            f" is {last['rows']}; store rows with page.upsert, which counts them (page.execute does not)"
        )

    def test_deleting_an_account_removes_its_rows_and_timeline(
        self, host: RunningHost, upstream: FakeUpstream
    ) -> None:
        self.add_account(host, upstream, OTHER)
        self.sync(host)
        self.sync(host, OTHER)
        assert self._timeline(host, ACCOUNT), "a sync adds its activity to the shared timeline"
        kept = self._timeline(host, OTHER)
        response = host.request("DELETE", f"/plugins/{self.plugin}/accounts/{ACCOUNT}")
        assert response.status_code == 200, response.text
        left = self.stored(host, ACCOUNT)
        assert not left, (
            f"rows left by a deleted account: {len(left)} of its rows remain; keep an account_id column"
            " in each table or delete the rest in the enttok_account_deleted hook"
        )
        assert not self._timeline(host, ACCOUNT), "timeline entries left by a deleted account"
        assert self._timeline(host, OTHER) == kept, "deleting an account took another account's timeline"
        self.assert_complete(host, upstream, OTHER)

    # -- helpers of these checks

    def _skip_without_fan_out(self, host: RunningHost) -> None:
        record = self.plugin_record(host)
        assert record is not None
        schema = next(t["payload_schema"] for t in record["job_types"] if t["name"] == self.sync_job_type)
        if "account_id" in schema.get("required", []):
            pytest.skip(f"{self.sync_job_type} requires an account_id: it has no sync of every account")

    def _sync_without_account(self, host: RunningHost) -> dict[str, Any]:
        """The sync submitted without `account_id`, run to its end (it must succeed)."""
        payload = {k: v for k, v in self.sync_payload(ACCOUNT).items() if k != "account_id"}
        fan_out = host.wait_for_job(host.submit(self.sync_job_type, payload), timeout=self.timeout)
        assert fan_out["status"] == "succeeded", (
            f"a sync without an account failed: it ended {fan_out['status']}: {fan_out['error']};"
            " submit one job per account with ctx.fan_out_accounts(payload)"
        )
        return fan_out

    def _synced_accounts(self, host: RunningHost, fan_out: dict[str, Any], *earlier: str) -> dict[Any, str]:
        """The sync job of each account, but the fan-out itself and the `earlier` jobs."""
        listed = host.get("/jobs", params={"type": self.sync_job_type, "limit": 50}).json()["jobs"]
        return {
            job["payload"].get("account_id"): job["job_id"]
            for job in listed
            if job["job_id"] not in {fan_out["job_id"], *earlier}
        }

    def _account(self, host: RunningHost, account_id: str) -> dict[str, Any]:
        return host.get(f"/plugins/{self.plugin}/accounts/{account_id}").json()

    def _timeline(self, host: RunningHost, account_id: str) -> list[dict[str, Any]]:
        params = {"source": self.plugin, "account_id": account_id, "limit": 1000}
        return host.get("/activity/events", params=params).json()["events"]
