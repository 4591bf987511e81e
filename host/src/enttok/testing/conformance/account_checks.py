"""The checks of what the kit promises per account, which every connector must keep: a sync
submitted without an account covers every account (`ctx.fan_out_accounts`), each account
shows its last sync, and deleting an account takes its rows and timeline entries with it."""

from __future__ import annotations

from typing import Any

import pytest

from enttok.testing.conformance.base import ACCOUNT, ConformanceBase
from enttok.testing.host import RunningHost
from enttok.testing.upstream import FakeUpstream

OTHER = "conformance-2"
"""The second account of the checks that need two."""


class AccountChecks(ConformanceBase):
    def test_sync_without_account_covers_every_account(
        self, host: RunningHost, upstream: FakeUpstream
    ) -> None:
        if "account_id" in self._payload_schema(host).get("required", []):
            pytest.skip(f"{self.sync_job_type} requires an account_id: it has no sync of every account")
        self.add_account(host, upstream, OTHER)
        payload = {k: v for k, v in self.sync_payload(ACCOUNT).items() if k != "account_id"}
        fan_out = host.wait_for_job(host.submit(self.sync_job_type, payload), timeout=self.timeout)
        assert fan_out["status"] == "succeeded", (
            f"a sync without an account failed: it ended {fan_out['status']}: {fan_out['error']};"
            " submit one job per account with ctx.fan_out_accounts(payload)"
        )
        listed = host.get("/jobs", params={"type": self.sync_job_type, "limit": 50}).json()["jobs"]
        by_account = {
            job["payload"].get("account_id"): job["job_id"]
            for job in listed
            if job["job_id"] != fan_out["job_id"]
        }
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

    def test_last_sync_shown_per_account(self, host: RunningHost, upstream: FakeUpstream) -> None:
        job = self.sync(host)
        last = host.get(f"/plugins/{self.plugin}/accounts/{ACCOUNT}").json()["last_sync"]
        assert last is not None, "no last sync shown: the account's last_sync is null after a sync"
        assert (last["job_id"], last["status"]) == (job["job_id"], "succeeded"), (
            f"the wrong last sync shown: {last['job_id']} ({last['status']}), not the sync {job['job_id']} that"
            " just succeeded"
        )
        assert last["items"] > 0, (
            "a last sync that counts nothing: the sync stored rows yet last_sync.items is 0; store them"
            " through the page (page.upsert, page.activity), which counts them"
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

    def _payload_schema(self, host: RunningHost) -> dict[str, Any]:
        record = self.plugin_record(host)
        assert record is not None
        return next(t["payload_schema"] for t in record["job_types"] if t["name"] == self.sync_job_type)

    def _timeline(self, host: RunningHost, account_id: str) -> list[dict[str, Any]]:
        params = {"source": self.plugin, "account_id": account_id}
        return host.get("/activity/events", params=params).json()["events"]
