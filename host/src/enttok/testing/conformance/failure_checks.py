"""The checks of what goes wrong around a sync: a revoked sign-in, a kill or a crash between
any two page commits, a handler that blocks the event loop, a secret that leaks."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

from enttok.sync import CRASH_FILE
from enttok.testing.conformance import inspection
from enttok.testing.conformance.base import ACCOUNT, ConformanceBase, Start
from enttok.testing.host import HostExited, RunningHost
from enttok.testing.upstream import FakeUpstream

SLOW_PAGE = 0.5
"""How long the fake takes over the first pages of the responsiveness check: a blocking HTTP
client would hold the host's event loop that long."""


class FailureChecks(ConformanceBase):
    def test_revoked_refresh_token_fails_auth(self, host: RunningHost, upstream: FakeUpstream) -> None:
        """Revoked before a sync, then (on a second account) between two pages of one."""
        self.revoke_refresh_tokens(upstream)
        job = host.wait_for_job(self.submit_sync(host), timeout=self.timeout)
        self._assert_auth_failed(host, job, ACCOUNT, "revoked before the sync")

        self.add_account(host, upstream, "conformance-2")
        parked = upstream.hold(self.page_path, after=1)
        job_id = self.submit_sync(host, "conformance-2")
        assert parked.reached.wait(self.timeout), "the sync stopped after one page"
        self.revoke_refresh_tokens(upstream)
        self.expire_access_tokens(upstream)
        parked.release()
        job = host.wait_for_job(job_id, timeout=self.timeout)
        self._assert_auth_failed(host, job, "conformance-2", "revoked mid-sync")

    def _assert_auth_failed(self, host: RunningHost, job: dict[str, Any], account_id: str, when: str) -> None:
        code = (job["error"] or {}).get("code")
        assert job["status"] == "failed" and code == "auth_failed", (
            f"an auth failure swallowed: with the refresh token {when}, the job ended {job['status']}"
            f" ({code}), not failed with auth_failed; let AuthFailed (from enttok.oauth) propagate"
        )
        status = host.get(f"/plugins/{self.plugin}/accounts/{account_id}").json()["status"]
        assert status == "needs_reauth", (
            f"an auth failure swallowed: with the refresh token {when}, the account is {status},"
            " not needs_reauth; raise AuthFailed with the account's id"
        )

    def test_kill_mid_sync_resumes_without_gap_or_duplicate(
        self, host: RunningHost, upstream: FakeUpstream, start: Start
    ) -> None:
        parked = upstream.hold(self.page_path, after=2)
        job_id = self.submit_sync(host)
        assert parked.reached.wait(self.timeout), "the sync stopped before its third page"
        inspection.wait_for_a_committed_cursor(host.data_dir, self.plugin, self.timeout)
        host.kill()
        # The parked request is recorded when it is answered, after the release: count it here.
        pages_before = self.page_requests(upstream) + 1
        parked.release()
        restarted = start()
        job = restarted.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        self.assert_complete(restarted, upstream)
        pages_after = self.page_requests(upstream) - pages_before
        restarted.stop()
        measure = start("measure")
        self.add_account(measure, upstream)
        before = self.page_requests(upstream)
        self.sync(measure)
        full_sync_pages = self.page_requests(upstream) - before
        assert pages_after < full_sync_pages, "the resumed sync started over instead of at its cursor"

    def test_crash_after_each_page_commit_loses_no_row(
        self, start: Start, upstream: FakeUpstream, tmp_path: Path
    ) -> None:
        """The host kills itself right after the k-th page commit of a sync (k = 1, 2, ...
        until a sync makes fewer commits), restarts, and the recovered sync must end with
        every row. Each k syncs an account of its own, on one data dir."""
        crash_at = tmp_path / "crash-after-commits"
        options = {"env": {CRASH_FILE: str(crash_at)}}
        host = start("crash", **options)
        for k in itertools.count(1):
            account_id = f"crash-{k}"
            self.add_account(host, upstream, account_id)
            crash_at.write_text(str(k))
            job_id = self.submit_sync(host, account_id)
            try:
                job = host.wait_for_job(job_id, timeout=self.timeout)
            except HostExited:
                pass
            else:  # the whole sync made fewer than k commits: every point has been tried
                assert job["status"] == "succeeded", job["error"]
                assert k > 1, "the sync committed no page"
                return
            crash_at.unlink()
            host = start("crash", **options)
            job = host.wait_for_job(job_id, timeout=self.timeout)
            assert job["status"] == "succeeded", (
                f"after a crash the sync ended {job['status']}: {job['error']}"
            )
            stored = self.stored(host, account_id)
            missing = self.expected_keys(upstream) - set(stored)
            assert not missing, (
                f"cursor committed before its rows: the host was killed right after page commit {k}"
                f" of a sync; restarted, the sync lost {len(missing)} rows for good (e.g."
                f" {sorted(missing)[:3]}): commit each page's rows with its cursor, in one ctx.sync block"
            )
            assert len(stored) == len(set(stored)), "a row was stored twice"

    def test_host_responsive_during_sync(self, host: RunningHost, upstream: FakeUpstream) -> None:
        self.sync(host)  # warm: the handler imported, its clients made
        assert host.post(f"/plugins/{self.plugin}/accounts/{ACCOUNT}/resync").status_code == 200
        upstream.slow(SLOW_PAGE, times=2, path=self.page_path)
        with inspection.HealthProbe(host.url) as probe:
            self.sync(host)
        assert probe.failure is None, f"the host stopped answering /health during a sync: {probe.failure}"
        # One slow answer may be the machine's (a loaded CI box); a handler that blocks per page,
        # or a blocking client through the two slow pages, makes several, or one very slow.
        bound = self.responsiveness_bound
        slow = sorted((s for s in probe.latencies if s > bound), reverse=True)
        assert len(slow) < 2 and not (slow and slow[0] > 3 * bound), (
            f"a blocking call in an async handler: /health took up to {slow[0]:.2f}s to answer during"
            f" a sync, {len(slow)} times over {bound:g}s; time.sleep or a blocking HTTP client holds"
            " the host's event loop: await asyncio.sleep, use ctx.http, or ctx.run_blocking"
        )

    def test_no_secret_leaked(self, host: RunningHost, upstream: FakeUpstream) -> None:
        job_id = self.submit_sync(host)
        job = host.wait_for_job(job_id, timeout=self.timeout)
        assert job["status"] == "succeeded", job["error"]
        record = self.plugin_record(host)
        assert record is not None
        settings = self.settings_of(ACCOUNT)
        secrets = {
            f"the account's {field}": str(settings[field])
            for field in inspection.secret_fields(record["account_schema"])
            if settings.get(field)
        }
        secrets.update(
            {f"token {n} the upstream issued": token for n, token in enumerate(upstream.issued, 1)}
        )
        assert secrets, "nothing to look for: the account has no secret and the upstream issued no token"
        texts = {
            f"the response to GET {path}": host.get(path).text
            for path in (
                "/jobs",
                f"/jobs/{job_id}",
                f"/jobs/{job_id}/events",
                "/settings",
                "/plugins",
                f"/plugins/{self.plugin}/accounts",
                f"/plugins/{self.plugin}/accounts/{ACCOUNT}",
            )
        }
        texts["the event stream"] = str(_replay(host, job_id))
        # Searched while the host runs, so the WAL is still there, and again once it has stopped.
        files = {what: inspection.files_containing(secret, host.data_dir) for what, secret in secrets.items()}
        host.stop()
        texts["the host's output"] = "\n".join(host.stdout_lines)
        leaks: set[str] = set()
        for what, secret in secrets.items():
            found = {*files[what], *inspection.files_containing(secret, host.data_dir)}  # running, stopped
            leaks.update(f"{what} in {path.relative_to(host.data_dir)}" for path in found)
            leaks.update(f"{what} in {where}" for where, text in texts.items() if secret in text)
        assert not leaks, f"a secret leaked: {sorted(leaks)}"


def _replay(host: RunningHost, job_id: str) -> list[dict[str, Any]]:
    """Every event up to the job's last, from the start of the stream."""
    last = host.job_events(job_id)[-1]["seq"]
    replayed: list[dict[str, Any]] = []
    with host.events(since=0) as stream, contextlib.suppress(TimeoutError):
        while not replayed or replayed[-1]["seq"] < last:
            replayed.append(stream.next())
    return replayed
