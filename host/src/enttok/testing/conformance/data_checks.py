"""The checks of what a sync stores and asks for: declarations, table names, restarts, a full
sync, an incremental second one, re-fetches, cancellation, rate limits, token expiry."""

from __future__ import annotations

import time

from enttok.testing.conformance import inspection
from enttok.testing.conformance.base import ACCOUNT, ConformanceBase, Start, refusal
from enttok.testing.host import RunningHost
from enttok.testing.upstream import FakeUpstream


class DataChecks(ConformanceBase):
    def test_declares_valid_job_types(self, host: RunningHost) -> None:
        record = self.plugin_record(host)
        assert record is not None
        names = [job_type["name"] for job_type in record["job_types"]]
        assert self.sync_job_type in names
        for job_type in record["job_types"]:
            assert job_type["name"].startswith(f"{self.plugin}.")
            schema = job_type["payload_schema"]
            assert schema.get("type") == "object" and isinstance(schema.get("properties"), dict), schema
        assert record["account_schema"] is not None, "a connector declares an account model"

    def test_tables_prefixed_even_at_run_time(self, host: RunningHost, upstream: FakeUpstream) -> None:
        self.sync(host)
        foreign = inspection.unprefixed_names(host.data_dir, self.plugin)
        assert not foreign, (
            f"an unprefixed table (or index, view, trigger), by a migration or created at run time:"
            f" {foreign}; everything a plugin creates is named {self.plugin}_*"
        )

    def test_restart_changes_nothing(self, host: RunningHost, upstream: FakeUpstream, start: Start) -> None:
        self.sync(host)
        before = inspection.snapshot(host.data_dir, self.plugin)
        assert host.stop() == 0
        again = start(check_loaded=False)
        record = self.plugin_record(again)
        assert record is not None and record["state"] == "loaded", (
            f"a plugin that fails on the second start: {refusal(self.plugin, record)}"
        )
        after = inspection.snapshot(again.data_dir, self.plugin)
        assert after["schema"] == before["schema"], "a restart changed the schema"
        assert after["migrations"] == before["migrations"], "a restart applied migrations again"
        assert after["rows"] == before["rows"], (
            f"a plugin that changes its data on every start: row counts {before['rows']} before"
            f" the restart, {after['rows']} after"
        )
        self.sync(again)

    def test_full_sync(self, host: RunningHost, upstream: FakeUpstream) -> None:
        self.sync(host)
        self.assert_complete(host, upstream)
        timeline = host.get("/activity/events", params={"source": self.plugin, "account_id": ACCOUNT}).json()
        assert timeline["events"], "a sync adds its activity to the shared timeline"

    def test_second_sync_is_incremental(self, host: RunningHost, upstream: FakeUpstream) -> None:
        self.sync(host)
        first = self.page_requests(upstream)
        assert first >= 2, f"the fake upstream must serve more than one page to {self.page_path}"
        self.sync(host)
        second = self.page_requests(upstream) - first
        assert second < first, (
            f"a sync that is not incremental: with nothing changed upstream the second sync"
            f" fetched {second} pages, the first {first}; start from the stored cursor (page.cursor)"
        )
        self.assert_complete(host, upstream)

    def test_refetch_adds_no_timeline_entry(self, host: RunningHost, upstream: FakeUpstream) -> None:
        self.sync(host)
        before = inspection.timeline_ids(host.data_dir, ACCOUNT)
        response = host.post(f"/plugins/{self.plugin}/accounts/{ACCOUNT}/resync")
        assert response.status_code == 200, response.text
        self.sync(host)
        after = inspection.timeline_ids(host.data_dir, ACCOUNT)
        assert sorted(after) == sorted(before), (
            f"timeline entries that duplicate on a re-fetch: {len(before)} entries after the first"
            f" sync, {len(after)} after fetching everything again; an Activity's external_id must"
            " be the upstream's own stable id"
        )

    def test_cancellation_honoured(self, host: RunningHost, upstream: FakeUpstream) -> None:
        parked = upstream.hold(self.page_path)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync never asked for a page"
        assert host.post(f"/jobs/{job_id}/cancel").status_code == 200
        canceled_at = time.time()
        parked.release()
        job = host.wait_for_job(job_id, timeout=self.timeout)
        later = [f"{r.method} {r.path}" for r in upstream.requests if r.arrived > canceled_at]
        assert not later, (
            f"cancellation ignored: after the cancel, {len(later)} more requests reached the"
            f" upstream ({later[:3]}...); call ctx.check_cancelled() before each request"
        )
        assert job["status"] == "canceled", f"cancellation ignored: the canceled sync ended {job['status']}"

    def test_rate_limit_respected(self, host: RunningHost, upstream: FakeUpstream) -> None:
        retry_after = 2.0
        upstream.rate_limit(retry_after, path=self.page_path)
        with host.events() as stream:
            job_id = self.submit_sync(host)
            announced = stream.wait_for(lambda e: e["type"] == "ratelimit" and e["job_id"] == job_id)
        job = host.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        limited = next(r for r in upstream.requests_to(self.page_path) if r.status == 429)
        resumed = [r for r in upstream.requests_to(self.page_path) if r.at > limited.at]
        assert resumed and resumed[0].at >= limited.at + retry_after - 0.05, (
            "a request went out before Retry-After"
        )
        assert announced["until"] and announced["provider"]
        self.assert_complete(host, upstream)

    def test_expired_token_refreshed_mid_sync(self, host: RunningHost, upstream: FakeUpstream) -> None:
        parked = upstream.hold(self.page_path, after=1)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync stopped after one page"
        refreshes = self.token_refreshes(upstream)
        self.expire_access_tokens(upstream)
        parked.release()
        job = host.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        assert self.token_refreshes(upstream) > refreshes, "the expired token was not refreshed"
        self.assert_complete(host, upstream)
