"""vault.scan against the real host, on vaults the tests write: what is read from a note,
what is read again, and every way a vault on disk can be odd without failing the job."""

from __future__ import annotations

import os
import sqlite3
import time


def _reasons(result):
    return {item["path"]: item["reason"] for item in result["skipped"]}


def test_front_matter_edge_cases(vault):
    v = vault()
    v.write(
        "titled.md",
        '---\ntitle: From Front Matter\ntags: [Work, "#planning"]\ndate: 2026-03-01\naliases: My Alias\n---\n# Heading One\ntext\n',
    )
    v.write("bom_crlf.md", "\ufeff---\r\ntags: journal, daily\r\n---\r\n# Windows Note\r\nbody\r\n")
    v.write("invalid.md", "---\ntitle: [unclosed\n---\n# Still Indexed\nthe body survives\n")
    v.write("list.md", "---\n- just\n- a list\n---\nbody of list\n")
    v.write("unclosed.md", "---\ntitle: never closed\nbody goes on\n")
    v.write("empty_fm.md", "---\n---\n# Empty\n")
    v.write("plain.md", "no front matter, no heading\n")

    result = v.scan()

    assert result["added"] == 7
    titled = v.note("titled.md")
    assert titled["title"] == "From Front Matter"
    assert titled["front_matter"]["date"] == "2026-03-01"  # a YAML date, as ISO text
    assert titled["tags"] == ["planning", "work"]
    assert titled["aliases"] == ["My Alias"]
    assert titled["headings"] == [{"text": "Heading One", "level": 1, "line": 7}]
    windows = v.note("bom_crlf.md")
    assert windows["title"] == "Windows Note"
    assert windows["tags"] == ["daily", "journal"]
    invalid = v.note("invalid.md")
    assert invalid["front_matter"] == {} and invalid["title"] == "Still Indexed"
    warnings = {w["path"]: w["warning"] for w in result["warnings"]}
    assert "not valid YAML" in warnings["invalid.md"]
    assert "not a mapping" in warnings["list.md"]
    unclosed = v.note("unclosed.md")
    assert (
        unclosed["front_matter"] == {} and unclosed["title"] == "unclosed"
    )  # shown as text, as Obsidian does
    assert v.search("never closed", mode="text")["results"][0]["path"] == "unclosed.md"
    assert v.note("empty_fm.md")["title"] == "Empty"
    assert v.note("plain.md")["title"] == "plain"


def test_links_tags_and_backlinks(vault):
    v = vault()
    v.write(
        "projects/alpha.md",
        "# Alpha\nSee [[Beta]], [[beta#Plans|the plans]] and ![[diagram.png]].\n"
        "A [relative link](../people/carol.md#role) and [the web](https://example.org).\n"
        "Tags: #project/alpha #2026 not#tag.\n\n```\n[[not a link]] #notatag\n```\nand `[[nor this]]`\n",
    )
    v.write("beta.md", "# Beta\nback to [[projects/alpha]]\n")
    v.write("people/carol.md", "# Carol\n")

    v.scan()

    alpha = v.note("projects/alpha.md")
    links = [(link["kind"], link["target"], link["resolved_path"]) for link in alpha["links"]]
    assert links == [
        ("wiki", "Beta", "beta.md"),
        ("wiki", "beta", "beta.md"),
        ("wiki", "diagram.png", None),
        ("markdown", "../people/carol.md", "people/carol.md"),
        ("external", "https://example.org", None),
    ]
    assert alpha["links"][1]["fragment"] == "Plans" and alpha["links"][1]["label"] == "the plans"
    assert alpha["links"][2]["embed"] is True
    assert alpha["tags"] == ["project/alpha"]  # not `#2026` (digits only), nor what is in code
    assert {b["path"] for b in v.note("beta.md")["backlinks"]} == {"projects/alpha.md"}
    assert v.note("people/carol.md")["backlinks"] == [
        {"path": "projects/alpha.md", "title": "Alpha", "line": 3, "kind": "markdown"}
    ]
    assert v.note("projects/alpha.md")["backlinks"][0]["path"] == "beta.md"


def test_incremental_scan_reads_only_what_changed(vault, suite_figures):
    v = vault()
    for n in range(50):
        v.write(f"notes/{n:02d}.md", f"# Note {n}\nbody {n}\n")
    assert v.scan()["read"] == 50

    nothing = v.scan()
    assert nothing.get("read", 0) == 0 and nothing["listed"] == 50

    edited = v.write("notes/07.md", "# Note 7\nbody seven, edited\n")
    touched = v.root / "notes/08.md"
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 10**9))  # mtime moved, content the same
    after = v.scan()
    assert after["read"] == 2  # only the two whose size or mtime changed were opened
    assert after["updated"] == 1 and after["unchanged"] == 1
    assert v.search("seven", mode="text")["results"][0]["path"] == "notes/07.md"
    assert edited.exists()
    suite_figures.count("vault", "notes read again after 2 changes of 50", after["read"])


def test_rename_is_detected_by_hash_and_deletion_removes(vault):
    v = vault()
    v.write("inbox/idea.md", "# Idea\nan unusual word: zeppelin\n")
    v.write("linker.md", "# Linker\n[[idea]]\n")
    v.write("doomed.md", "# Doomed\nephemeral\n")
    v.scan()
    first_seen = v.note("inbox/idea.md")["first_seen"]

    (v.root / "archive").mkdir()
    os.rename(v.root / "inbox/idea.md", v.root / "archive/idea.md")
    (v.root / "doomed.md").unlink()
    result = v.scan()

    assert result["renamed"] == 1 and result["removed"] == 1 and result.get("added", 0) == 0
    assert v.note("archive/idea.md")["first_seen"] == first_seen
    assert (
        v.host.get("/plugins/vault/note", params={"vault_id": "notes", "path": "inbox/idea.md"}).status_code
        == 404
    )
    assert v.note("archive/idea.md")["backlinks"][0]["path"] == "linker.md"  # the link follows the note
    assert [r["path"] for r in v.search("zeppelin", mode="text")["results"]] == ["archive/idea.md"]
    assert v.search("ephemeral", mode="text")["results"] == []
    assert v.rows("SELECT count(*) FROM vault_chunks WHERE path = 'doomed.md'") == [(0,)]


def test_odd_files_are_reported_and_skipped(vault, suite_figures):
    v = vault(max_note_bytes=64 * 1024)
    v.write("good.md", "# Good\nfine\n")
    v.write("latin1.md", "# Caf\xe9\nna\xefve\n".encode("latin-1"))
    v.write("utf16.md", "# Sixteen\nwide text\n".encode("utf-16"))
    v.write("huge.md", "# Huge\n" + "lorem ipsum " * 20_000)
    v.write("binary.md", b"\x00\x01\x02binary")
    (v.root / "loop").mkdir()
    os.symlink("..", v.root / "loop" / "up")  # loop/up/loop/up/... back to the root
    os.symlink("self.md", v.root / "self.md")  # a link to itself
    os.symlink("missing.md", v.root / "dangling.md")
    (v.root / ".obsidian").mkdir()
    v.write(".obsidian/workspace.md", "# not a note\n")

    result = v.scan()

    reasons = _reasons(result)
    assert reasons == {
        "latin1.md": "not_utf8",
        "huge.md": "too_large",
        "binary.md": "binary",
        "loop/up": "symlink_loop",
        "self.md": "symlink_loop",
        "dangling.md": "broken_symlink",
    }
    assert result["added"] == 2  # good.md, and utf16.md read through its byte order mark
    assert v.note("utf16.md")["title"] == "Sixteen"
    assert v.rows("SELECT path FROM vault_notes ORDER BY path") == [("good.md",), ("utf16.md",)]
    suite_figures.count("vault", "odd files reported and skipped", len(reasons))


def test_a_few_thousand_notes_and_a_file_deleted_mid_scan(vault, suite_figures):
    v = vault()
    count = 3000
    for n in range(count):
        v.write(
            f"{n // 100:02d}/note-{n:04d}.md",
            f"---\ntags: [gen]\n---\n# Note {n}\n\nentry number {n} about topic{n % 17}\n\n## Details\nmore words w{n}\n",
        )
    last = f"{(count - 1) // 100:02d}/note-{count - 1:04d}.md"

    with v.host.events() as stream:
        job_id = v.host.submit("vault.scan", {"vault_id": v.id})
        # The scan lists the whole vault first, then reads the changed notes in path order;
        # the last one is deleted as soon as the listing is reported, long before its turn.
        stream.wait_for(
            lambda e: (
                e["type"] == "job.progress" and e["job_id"] == job_id and "listed" in (e.get("message") or "")
            ),
            timeout=60,
        )
        (v.root / last).unlink()
    job = v.host.wait_for_job(job_id, timeout=180)

    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["listed"] == count
    assert _reasons(result) == {last: "vanished"}
    assert result["added"] == count - 1
    assert v.rows("SELECT count(*) FROM vault_notes") == [(count - 1,)]
    assert v.rows("SELECT count(*) FROM vault_chunks") == [(2 * (count - 1),)]
    hits = v.search("topic5", mode="text", limit=200)["results"]
    assert len(hits) == len([n for n in range(count - 1) if n % 17 == 5])
    assert v.search("w1234", mode="text")["results"][0]["path"] == "12/note-1234.md"
    suite_figures.count("vault", "generated notes scanned", result["added"])


def test_edits_become_timeline_entries(vault):
    v = vault()
    v.write("old.md", "# Old\n")
    os.utime(v.root / "old.md", (1_600_000_000, 1_600_000_000))  # written years ago
    v.write("today.md", "# Written Today\n")
    v.scan()
    v.write("old.md", "# Old\nedited now\n")
    v.scan()

    response = v.host.get(
        "/activity/events",
        params={"source": "vault", "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    events = {(e["event_type"], e["title"]) for e in response.json()["events"]}
    # The first scan records what was written today; later scans every change they see.
    assert events == {("note.created", "Written Today"), ("note.edited", "Old")}


def test_a_host_killed_mid_scan_resumes_without_loss_or_duplicate(enttok_host, tmp_path, suite_figures):
    root = tmp_path / "vault"
    count = 2000
    for n in range(count):
        path = root / f"{n // 100:02d}" / f"note-{n:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Note {n}\n\nbody {n}\n\n## Part\nword{n}\n")
    host = enttok_host(plugins=["vault"])
    response = host.post(
        "/settings",
        json={"plugins": {"vault": {"vaults": [{"id": "notes", "path": str(root), "watch": False}]}}},
    )
    assert response.status_code == 200

    with host.events() as stream:
        job_id = host.submit("vault.scan", {"vault_id": "notes"})
        # Killed once the first batch of notes is committed (the progress after it says so).
        stream.wait_for(
            lambda e: (
                e["type"] == "job.progress" and e["job_id"] == job_id and e.get("message") == "indexing notes"
            ),
            timeout=60,
        )
    host.kill()

    host = enttok_host(plugins=["vault"])  # the same data dir: the job is queued again
    job = host.wait_for_job(job_id, timeout=180)
    assert job["status"] == "succeeded", job

    vault = host.get("/plugins/vault/vaults").json()["vaults"][0]
    assert vault["notes"] == count
    connection = sqlite3.connect(host.data_dir / "data" / "index.db")
    try:
        chunks = connection.execute(
            "SELECT count(*), count(DISTINCT path || '#' || ordinal) FROM vault_chunks"
        ).fetchone()
        full_text = connection.execute("SELECT count(*) FROM vault_fts").fetchone()[0]
    finally:
        connection.close()
    assert chunks == (2 * count, 2 * count) and full_text == 2 * count
    assert job["result"].get("added", 0) < count  # the rerun kept what the killed attempt committed
    suite_figures.count("vault", "kills mid-scan survived")


def test_index_update_takes_only_paths_of_the_vault(vault):
    v = vault()
    v.write("a.md", "# A\nalpha\n")
    v.scan()
    v.write("a.md", "# A\nalpha, edited\n")
    v.write(".obsidian/cache.md", "# hidden\n")
    v.write("b.md", "# B\nbeta\n")

    result = v.run(
        "vault.index_update",
        changed_paths=[str(v.root / "a.md"), ".obsidian/cache.md", "../outside.md", "/etc/passwd"],
        deleted_paths=["b.md"],  # the disk says it exists: indexed, not deleted
    )

    assert result["updated"] == 1 and result["added"] == 1 and result["ignored"] == 1
    assert {item["path"]: item["reason"] for item in result["skipped"]} == {
        "../outside.md": "outside_vault",
        "/etc/passwd": "outside_vault",
    }
    assert v.rows("SELECT path FROM vault_notes ORDER BY path") == [("a.md",), ("b.md",)]
