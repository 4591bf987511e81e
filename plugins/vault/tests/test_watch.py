"""Watching over the real host: a vault added in the settings is scanned, an edit is indexed
within seconds by one debounced job, and what changed while the host was down is caught by
the scan at start-up."""

from __future__ import annotations

import time

from enttok.testing import RunningHost

from .conftest import configure


def _next_vault_job(host: RunningHost, stream, job_type: str, timeout: float = 15.0) -> dict:
    """The next job of `job_type` to succeed, as the event stream reports it."""
    event = stream.wait_for(
        lambda e: (
            e["type"] == "job.status"
            and e["status"] == "succeeded"
            and host.job(e["job_id"])["type"] == job_type
        ),
        timeout=timeout,
    )
    return host.job(event["job_id"])


def test_watching_indexes_a_change_within_seconds(enttok_host, tmp_path, suite_figures):
    root = tmp_path / "vault"
    root.mkdir()
    (root / "first.md").write_text("# First\nalready here\n")
    host = enttok_host(plugins=["vault"])

    with host.events() as stream:
        configure(host, [{"id": "notes", "path": str(root), "watch": True}])
        scan = _next_vault_job(host, stream, "vault.scan")  # a vault added is scanned at once
        assert scan["result"]["added"] == 1

        started = time.monotonic()
        (root / "new.md").write_text("# New\nthe word is heliotrope\n")
        (root / "first.md").write_text("# First\nalready here, and edited\n")
        (root / "first.md").write_text("# First\nalready here, and edited twice\n")
        update = _next_vault_job(host, stream, "vault.index_update")
        elapsed = time.monotonic() - started

    assert update["payload"]["changed_paths"] == ["first.md", "new.md"]  # one job, each path once
    assert update["result"]["added"] == 1 and update["result"]["updated"] == 1
    hits = host.get("/plugins/vault/search", params={"vault_id": "notes", "q": "heliotrope", "mode": "text"})
    assert [h["path"] for h in hits.json()["results"]] == ["new.md"]
    suite_figures.note("vault", f"a change indexed by the watcher {elapsed:.1f} s after it was written")


def test_a_scan_at_start_up_catches_what_changed_while_down(enttok_host, tmp_path):
    root = tmp_path / "vault"
    root.mkdir()
    (root / "kept.md").write_text("# Kept\n")
    (root / "gone.md").write_text("# Gone\n")
    host = enttok_host(plugins=["vault"])
    with host.events() as stream:
        configure(host, [{"id": "notes", "path": str(root), "watch": True}])
        first_scan = _next_vault_job(host, stream, "vault.scan")
    assert host.stop() == 0

    (root / "gone.md").unlink()
    (root / "while-down.md").write_text("# Written While Down\nnasturtium\n")
    host = enttok_host(plugins=["vault"])  # the same data dir

    # The start-up scan is queued before the host says it is ready.
    scans = host.get("/jobs", params={"type": "vault.scan"}).json()["jobs"]
    new = [job["job_id"] for job in scans if job["job_id"] != first_scan["job_id"]]
    assert len(new) == 1
    scan = host.wait_for_job(new[0])
    assert scan["status"] == "succeeded", scan
    assert scan["result"]["added"] == 1 and scan["result"]["removed"] == 1
    hits = host.get("/plugins/vault/search", params={"vault_id": "notes", "q": "nasturtium", "mode": "text"})
    assert [h["path"] for h in hits.json()["results"]] == ["while-down.md"]
