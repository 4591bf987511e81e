"""The vault's tables: notes and their links and tags, the chunks the search index points
into, the FTS5 text of each chunk (its rowid is the chunk's id), and the embedding vectors,
kept by the hash of the text they embed so that a note renamed or left as it was is not
embedded again."""

from __future__ import annotations

from enttok import Migration

SCHEMA = """
CREATE TABLE vault_notes (
    vault_id TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    name_key TEXT NOT NULL,
    title TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    word_count INTEGER NOT NULL,
    front_matter_json TEXT NOT NULL,
    headings_json TEXT NOT NULL,
    aliases_json TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (vault_id, path)
);
CREATE INDEX vault_notes_by_key ON vault_notes (vault_id, key);
CREATE INDEX vault_notes_by_name ON vault_notes (vault_id, name_key);
CREATE INDEX vault_notes_by_hash ON vault_notes (vault_id, hash);

CREATE TABLE vault_tags (
    vault_id TEXT NOT NULL,
    path TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (vault_id, path, tag)
);
CREATE INDEX vault_tags_by_tag ON vault_tags (vault_id, tag);

CREATE TABLE vault_links (
    vault_id TEXT NOT NULL,
    source_path TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    target_key TEXT,
    fragment TEXT,
    label TEXT,
    line INTEGER NOT NULL,
    embed INTEGER NOT NULL,
    PRIMARY KEY (vault_id, source_path, ordinal)
);
CREATE INDEX vault_links_by_target ON vault_links (vault_id, target_key);

CREATE TABLE vault_chunks (
    id INTEGER PRIMARY KEY,
    vault_id TEXT NOT NULL,
    path TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading TEXT,
    level INTEGER NOT NULL,
    line INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX vault_chunks_by_note ON vault_chunks (vault_id, path);
CREATE INDEX vault_chunks_by_hash ON vault_chunks (vault_id, hash);

CREATE VIRTUAL TABLE vault_fts USING fts5(
    title, heading, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);

CREATE TABLE vault_vectors (
    vault_id TEXT NOT NULL,
    model TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (vault_id, model, hash)
);

CREATE TABLE vault_index (
    vault_id TEXT PRIMARY KEY,
    model_override TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    scanned_at TEXT,
    rebuilt_at TEXT
);
"""

MIGRATIONS = [Migration(1, SCHEMA, "notes, links, tags, chunks, full text and vectors of Markdown vaults")]
