"""The daily note over the real host: read, created from the template, appended to without
ever losing what the person wrote meanwhile."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

DAY = "2026-03-09"


def test_read_create_from_template_and_index(vault):
    v = vault(
        vault_options={
            "daily_folder": "journal/days",
            "daily_pattern": "YYYY-MM-DD ddd",
            "daily_template": "templates/day.md",
        }
    )
    v.write("templates/day.md", "# {{title}}\n\nwritten on {{date}}\n")
    read = v.host.get("/plugins/vault/daily", params={"vault_id": "notes", "date": DAY})
    assert read.status_code == 200 and read.json()["exists"] is False
    assert read.json()["path"] == "journal/days/2026-03-09 Mon.md"

    created = v.host.post("/plugins/vault/daily", json={"vault_id": "notes", "date": DAY})
    assert created.status_code == 201, created.text
    assert created.json()["content"] == "# 2026-03-09 Mon\n\nwritten on 2026-03-09\n"
    assert (v.root / "journal/days/2026-03-09 Mon.md").read_text() == created.json()["content"]
    again = v.host.post("/plugins/vault/daily", json={"vault_id": "notes", "date": DAY})
    assert again.status_code == 200 and again.json()["created"] is False


def test_append_atomic_and_refused_over_a_newer_edit(vault):
    v = vault()
    first = v.host.post(
        "/plugins/vault/daily/append",
        json={"vault_id": "notes", "date": DAY, "section": "Journal", "text": "Shipped the release."},
    )
    assert first.status_code == 200, first.text
    path = v.root / "daily" / f"{DAY}.md"
    assert path.read_text() == f"# {DAY}\n\n## Journal\n\nShipped the release.\n"
    read_hash = first.json()["hash"]

    path.write_text(path.read_text() + "\nMy own words, typed in the editor.\n")  # the person saves
    refused = v.host.post(
        "/plugins/vault/daily/append",
        json={"vault_id": "notes", "date": DAY, "text": "stale", "expected_hash": read_hash},
    )
    assert refused.status_code == 409 and refused.json()["error"]["details"][0]["field"] == "expected_hash"
    assert "My own words" in path.read_text() and "stale" not in path.read_text()

    appended = v.host.post(
        "/plugins/vault/daily/append",
        json={"vault_id": "notes", "date": DAY, "section": "Later", "text": "More."},
    )
    assert appended.status_code == 200
    assert path.read_text().endswith("My own words, typed in the editor.\n\n## Later\n\nMore.\n")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    # The append queued an index update: the section becomes searchable.
    update = v.host.get("/jobs", params={"type": "vault.index_update"}).json()
    job_ids = [job["job_id"] for job in update["jobs"]]
    for job_id in job_ids:
        assert v.host.wait_for_job(job_id)["status"] == "succeeded"
    assert v.search("Shipped", mode="text")["results"][0]["path"] == f"daily/{DAY}.md"


def test_concurrent_appends_and_edits_lose_nothing(vault, suite_figures):
    v = vault()
    path = v.root / "daily" / f"{DAY}.md"

    def backend(n: int, expected_hash: str | None = None) -> int:
        response = v.host.post(
            "/plugins/vault/daily/append",
            json={
                "vault_id": "notes",
                "date": DAY,
                "section": f"S{n}",
                "text": f"backend {n}",
                "expected_hash": expected_hash,
            },
        )
        return response.status_code

    # Appends at once, the first creating the note: each lands once, none over another.
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(backend, range(24))) == [200] * 24
    text = path.read_text()
    assert text.count(f"# {DAY}\n") == 1
    assert all(text.count(f"## S{n}\n\nbackend {n}\n") == 1 for n in range(24))

    # The person saves after the app read the note and before its append arrives: with the
    # hash it read, the backend is refused; without, it appends after the person's words.
    refused = 0
    for n in range(24, 48):
        read_hash = v.host.get("/plugins/vault/daily", params={"vault_id": "notes", "date": DAY}).json()[
            "hash"
        ]
        with open(path, "a", encoding="utf-8") as editor:
            editor.write(f"person line {n}\n")
        if n % 2:
            assert backend(n, expected_hash=read_hash) == 409
            refused += 1
        else:
            assert backend(n) == 200
    text = path.read_text()
    assert all(f"person line {n}\n" in text for n in range(24, 48))
    assert all((f"## S{n}\n" in text) == (n % 2 == 0) for n in range(24, 48))
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    suite_figures.count("vault", "daily-note appends: concurrent", 24)
    suite_figures.count("vault", "daily-note appends: refused over a newer edit", refused)
