"""Search over the real host: full-text ranking and snippets on known text, the filters,
bad input, and vector and hybrid search with a tiny model the test builds itself."""

from __future__ import annotations

import pytest


@pytest.fixture
def library(vault):
    v = vault()
    v.write(
        "work/budget.md",
        "---\ntags: [finance]\n---\n# Budget 2026\nThe budget review moves to Friday.\n\n"
        "## Costs\nTravel costs went up; the invoice from the venue is late.\n",
    )
    v.write("work/standup.md", "# Standup\nWe talked about the budget once, then about the release.\n")
    v.write("home/pets.md", "# Pets\nThe kitten and the puppy met the vet today.\n")
    v.write(
        "home/trip.md",
        "---\ntags: [outdoors]\n---\n# Trip\nA long trail to the summit; <b>bold</b> & brave.\n",
    )
    v.scan()
    return v


def test_bm25_ranks_the_title_match_first_with_highlighted_snippets(library):
    hits = library.search("budget", mode="text")["results"]

    assert [h["path"] for h in hits][:2] == ["work/budget.md", "work/budget.md"]
    assert hits[0]["heading"] == "Budget 2026" and hits[0]["line"] == 4
    assert hits[0]["snippet"] == "The <mark>budget</mark> review moves to Friday."
    assert hits[-1]["path"] == "work/standup.md"
    assert hits[0]["score"] > hits[-1]["score"] > 0
    costs = library.search("invoice", mode="text")["results"]
    assert [(h["path"], h["heading"], h["line"]) for h in costs] == [("work/budget.md", "Costs", 7)]


def test_prefix_phrase_and_escaped_snippets(library):
    assert [h["path"] for h in library.search("summ", mode="text")["results"]] == ["home/trip.md"]
    assert library.search("summ ", mode="text")["results"] == []  # a finished word is a whole word
    assert [h["path"] for h in library.search('"the invoice"', mode="text")["results"]] == ["work/budget.md"]
    assert library.search('"invoice the"', mode="text")["results"] == []
    snippet = library.search("brave", mode="text")["results"][0]["snippet"]
    assert snippet == "A long trail to the summit; &lt;b&gt;bold&lt;/b&gt; &amp; <mark>brave</mark>."
    # What would be FTS5 syntax is searched as words, never an error.
    assert library.search('budget AND NOT (review OR "', mode="text")["results"] is not None


def test_folder_and_tag_filters(library):
    assert {h["path"] for h in library.search("the", mode="text", folder="home")["results"]} == {
        "home/pets.md",
        "home/trip.md",
    }
    assert {h["path"] for h in library.search("the", mode="text", tag="#Outdoors")["results"]} == {
        "home/trip.md"
    }


def test_bad_input_is_a_4xx_naming_the_field(library):
    host = library.host
    cases = [
        ({"vault_id": "notes", "q": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"vault_id": "notes", "q": "x", "limit": "many"}, 422, "limit"),
        ({"vault_id": "notes"}, 422, "q"),
        ({"vault_id": "notes", "q": "!!!"}, 422, "q"),
        ({"vault_id": "nope", "q": "x"}, 404, "vault_id"),
        ({"vault_id": "notes", "q": "x", "mode": "vector"}, 409, "mode"),
    ]
    for params, status, field in cases:
        response = host.get("/plugins/vault/search", params=params)
        assert response.status_code == status, (params, response.text)
        assert field in {d["field"] for d in response.json()["error"]["details"]}, response.text
    response = host.post(
        "/plugins/vault/daily/append", json={"vault_id": "notes", "date": "2026-13-01", "text": "x"}
    )
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "date"


def test_hybrid_without_a_model_is_full_text(library):
    found = library.search("kitten")
    assert found["mode"] == "text" and found["results"][0]["path"] == "home/pets.md"


def test_vector_and_hybrid_search_with_a_local_model(vault, tiny_model, suite_figures):
    v = vault(embedding_model=str(tiny_model))
    v.write("pets.md", "# Pets\nThe kitten and the puppy.\n")
    v.write("money.md", "# Money\nThe invoice and the costs.\n")
    v.write("hike.md", "# Outing\nA trail to the summit.\n")
    v.write("animals-in-words.md", "# Zoo\nanimals\n")
    built = v.scan()
    assert built["embedded"] == 4

    # "dog" appears in no note: only the vectors can find the notes about pets.
    assert v.search("dog", mode="text")["results"] == []
    vector = v.search("dog", mode="vector")["results"]
    assert {h["path"] for h in vector[:2]} == {"pets.md", "animals-in-words.md"}
    assert vector[0]["vector_score"] > 0.9 > vector[-1]["vector_score"]
    # Hybrid: the note with the word and the pets direction first, then by vectors alone.
    hybrid = v.search("animals", mode="hybrid")
    assert hybrid["mode"] == "hybrid"
    first = hybrid["results"][0]
    assert (
        first["path"] == "animals-in-words.md"
        and first["text_rank"] == 1
        and first["vector_rank"] is not None
    )
    assert hybrid["results"][1]["path"] == "pets.md" and hybrid["results"][1]["text_rank"] is None
    assert v.search("money", mode="vector", tag="none-such")["results"] == []

    # An edit re-embeds only the chunk it changed; a rename re-embeds nothing.
    v.write("money.md", "# Money\nThe invoice and the costs.\n\n## Later\nThe budget.\n")
    (v.root / "hike.md").rename(v.root / "trail.md")
    update = v.run("vault.index_update", changed_paths=["money.md", "trail.md"], deleted_paths=["hike.md"])
    assert update["embedded"] == 1 and update["renamed"] == 1
    assert v.search("finance", mode="vector")["results"][0]["heading"] in ("Money", "Later")
    assert v.search("mountain", mode="vector")["results"][0]["path"] == "trail.md"
    assert v.rows("SELECT count(*) FROM vault_vectors") == [(5,)]
    v.write("pets.md", "# Pets\nThe kitten, the puppy and the vet.\n")
    edit = v.run("vault.index_update", changed_paths=["pets.md"])
    assert edit["embedded"] == 1 and edit["vectors_dropped"] == 1  # the old text's vector goes
    assert v.rows("SELECT count(*) FROM vault_vectors") == [(5,)]
    suite_figures.count("vault", "chunks re-embedded after a 1-chunk edit and a rename", update["embedded"])


def test_rebuild_with_a_model_then_without(vault, tiny_model):
    v = vault()
    v.write("pets.md", "# Pets\nkitten\n")
    v.scan()
    assert v.rows("SELECT count(*) FROM vault_vectors") == [(0,)]

    rebuilt = v.run("vault.index_rebuild", embedding_model=str(tiny_model))
    assert rebuilt["embedded"] == 1 and rebuilt["updated"] == 1
    assert v.search("dog", mode="vector")["results"][0]["path"] == "pets.md"

    missing = v.host.run(
        "vault.index_rebuild", {"vault_id": "notes", "embedding_model": "/nonexistent/model"}
    )
    assert missing["status"] == "failed" and "not a model2vec model folder" in missing["error"]["message"]

    v.run("vault.index_rebuild")  # back to the setting: no model
    assert v.rows("SELECT count(*) FROM vault_vectors") == [(0,)]
    assert v.search("kitten", mode="text")["results"][0]["path"] == "pets.md"


def test_generated_input_is_never_a_server_error(library, suite_figures):
    """Every route, with values a fuzzer would send: odd text, odd numbers, odd dates, odd JSON."""
    import random

    rng = random.Random(20261204)
    odd = [
        "",
        " ",
        "\x00",
        "\ud7ff\ue000",
        "💥" * 300,
        "'; DROP TABLE vault_notes; --",
        '"',
        "*",
        "NEAR(a b)",
        "-1",
        "0",
        "1e309",
        "NaN",
        "9999-12-31",
        "0001-01-01",
        "2026-02-30",
        "../../etc/passwd",
        "/abs",
        "a" * 5000,
        "notes",
        "nope",
        "text",
        "vector",
        "hybrid",
        "#tag",
        "home",
        "%",
        "_",
    ]
    routes = [
        ("GET", "/plugins/vault/search", ["vault_id", "q", "mode", "limit", "folder", "tag", "extra"]),
        ("GET", "/plugins/vault/note", ["vault_id", "path"]),
        ("GET", "/plugins/vault/daily", ["vault_id", "date"]),
        ("POST", "/plugins/vault/daily", ["vault_id", "date"]),
        ("POST", "/plugins/vault/daily/append", ["vault_id", "date", "text", "section", "expected_hash"]),
    ]
    sent = 0
    for _ in range(60):
        for method, path, fields in routes:
            values = {f: rng.choice(odd) for f in fields if rng.random() < 0.8}
            values["vault_id"] = rng.choice(["notes", "notes", rng.choice(odd)])
            if method == "GET":
                response = library.host.request(method, path, params=values)
            else:
                body = rng.choice([values, [values], "not json", 12, None])
                response = library.host.request(
                    method,
                    path,
                    content=body if isinstance(body, str) else None,
                    json=None if isinstance(body, str) else body,
                )
            assert response.status_code < 500, (method, path, values, response.text)
            assert "Traceback" not in response.text
            sent += 1
    suite_figures.count("vault", "generated requests answered without a server error", sent)
