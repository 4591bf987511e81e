"""The stored vectors of a vault's chunks: which chunk texts need one, embedding them,
and dropping those no chunk uses any more.

Vectors are kept by the hash of the text they embed (`vault_vectors`), not by chunk: a note
renamed, or a heading moved with its text, keeps its vectors; an edit re-embeds the chunks
whose text it changed and no others.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from enttok import JobContext
from enttok_vault import embeddings
from enttok_vault.config import VaultSettings
from enttok_vault.store import batches

EMBED_BATCH = 512


def model_for(connection: sqlite3.Connection, settings: VaultSettings, vault_id: str) -> str | None:
    """The vault's embedding model folder: the one its last rebuild named, else the setting."""
    row = connection.execute(
        "SELECT model_override FROM vault_index WHERE vault_id = ?", (vault_id,)
    ).fetchone()
    return (row[0] if row and row[0] else None) or settings.embedding_model


def embed_missing(
    ctx: JobContext,
    settings: VaultSettings,
    vault_id: str,
    counts: Counter[str],
    warnings: list[dict[str, str]],
    paths: list[str] | None = None,
    old_hashes: set[str] | None = None,
) -> None:
    """Vectors for the chunk texts that have none for the vault's model, and vectors no chunk
    uses any more (an edited text, another model) dropped: in the whole vault, or, for an
    update of a few `paths`, in their chunks only (the whole vault if the model changed)."""
    with ctx.db() as connection:
        folder = model_for(connection, settings, vault_id)
        model = None
        if folder is not None:
            try:
                model = embeddings.model_key(folder)
            except embeddings.ModelUnavailable as error:
                warnings.append({"path": folder, "warning": str(error)})
                return  # the vectors stay as they are until the model is back
        if paths is not None and _model_changed(connection, vault_id, model):
            paths = old_hashes = None
        missing: list[tuple[str, str]] = []
        if model is not None:
            # No GROUP BY: it would lead SQLite to walk every chunk by hash instead of the
            # few notes' chunks by path; chunks sharing a text are deduplicated here.
            query = (
                "SELECT c.hash, f.title || char(10) || coalesce(f.heading, '') || char(10) || f.body"
                " FROM vault_chunks c JOIN vault_fts f ON f.rowid = c.id"
                " WHERE c.vault_id = ? AND NOT EXISTS (SELECT 1 FROM vault_vectors v"
                "  WHERE v.vault_id = c.vault_id AND v.model = ? AND v.hash = c.hash){paths}"
            )
            if paths is None:
                rows = connection.execute(query.format(paths=""), (vault_id, model)).fetchall()
            else:
                rows = []
                for batch in batches(paths):
                    sql = query.format(paths=f" AND c.path IN ({','.join('?' * len(batch))})")
                    rows += connection.execute(sql, (vault_id, model, *batch)).fetchall()
            missing = list(dict(rows).items())
    for start in range(0, len(missing), EMBED_BATCH):
        ctx.check_cancelled()
        batch = missing[start : start + EMBED_BATCH]
        vectors = embeddings.embed(folder or "", [text for _, text in batch])
        with ctx.transaction() as tx:
            tx.executemany(
                "INSERT OR REPLACE INTO vault_vectors (vault_id, model, hash, vector) VALUES (?, ?, ?, ?)",
                [
                    (vault_id, model, h, vector.tobytes())
                    for (h, _), vector in zip(batch, vectors, strict=True)
                ],
            )
        counts["embedded"] += len(batch)
        ctx.progress(0.8 + 0.2 * min(1.0, (start + EMBED_BATCH) / len(missing)), "embedding chunks")
    with ctx.transaction() as tx:
        unused = " AND NOT EXISTS (SELECT 1 FROM vault_chunks c WHERE c.vault_id = ? AND c.hash = vault_vectors.hash)"
        if old_hashes is None:
            dropped = tx.execute(
                "DELETE FROM vault_vectors WHERE vault_id = ? AND (model IS NOT ? OR NOT EXISTS"
                " (SELECT 1 FROM vault_chunks c WHERE c.vault_id = ? AND c.hash = vault_vectors.hash))",
                (vault_id, model, vault_id),
            ).rowcount
        else:
            dropped = 0
            for batch in batches(sorted(old_hashes)):
                dropped += tx.execute(
                    "DELETE FROM vault_vectors WHERE vault_id = ? AND model = ?"
                    f" AND hash IN ({','.join('?' * len(batch))}){unused}",
                    (vault_id, model, *batch, vault_id),
                ).rowcount
        tx.execute("UPDATE vault_index SET generation = generation + 1 WHERE vault_id = ?", (vault_id,))
    counts["vectors_dropped"] = dropped


def _model_changed(connection: sqlite3.Connection, vault_id: str, model: str | None) -> bool:
    """Whether the vault has vectors of another model, or chunks and no vector of this one.
    (Range probes on the primary key: the vectors themselves are never read.)"""
    if model is None:
        return (
            connection.execute(
                "SELECT 1 FROM vault_vectors WHERE vault_id = ? LIMIT 1", (vault_id,)
            ).fetchone()
            is not None
        )
    other = connection.execute(
        "SELECT 1 FROM vault_vectors WHERE vault_id = ? AND model < ? UNION ALL"
        " SELECT 1 FROM vault_vectors WHERE vault_id = ? AND model > ? LIMIT 1",
        (vault_id, model, vault_id, model),
    ).fetchone()
    if other is not None:
        return True
    has_vectors = connection.execute(
        "SELECT 1 FROM vault_vectors WHERE vault_id = ? AND model = ? LIMIT 1", (vault_id, model)
    ).fetchone()
    has_chunks = connection.execute(
        "SELECT 1 FROM vault_chunks WHERE vault_id = ? LIMIT 1", (vault_id,)
    ).fetchone()
    return has_vectors is None and has_chunks is not None
