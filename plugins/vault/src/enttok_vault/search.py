"""Search over a vault's chunks: full text (FTS5, BM25), vectors (cosine over the stored
embeddings) and both at once, fused by reciprocal rank.

The vectors of a vault are read from SQLite into one matrix and kept while the vault's index
generation stays the same; every scan or update that changes the index moves it on.
"""

from __future__ import annotations

import html
import re
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from enttok_vault import embeddings

RRF_K = 60  # the constant of Cormack et al.; it damps the weight of the very first ranks
CANDIDATES = 50  # hits taken from each side before fusing
WEIGHTS = (10.0, 4.0, 1.0)  # bm25 weights of title, heading and body
TERM = re.compile(r'"([^"]*)"?|(\S+)')
WORD = re.compile(r"\w+")
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"


class SearchError(Exception):
    def __init__(self, status: int, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.message = status, code, field, message


@dataclass(frozen=True)
class Query:
    vault_id: str
    q: str
    mode: str = "hybrid"
    limit: int = 20
    folder: str | None = None
    tag: str | None = None


@dataclass
class _Matrix:
    generation: int
    ids: Any
    vectors: Any


_matrices: dict[tuple[str, str], _Matrix] = {}
_matrices_lock = threading.Lock()


def fts_query(q: str) -> str:
    """The person's words as an FTS5 query: every word must appear; `"a phrase"` stays a
    phrase; `word*` and the last word typed are prefixes. Nothing they type is FTS5 syntax."""
    terms: list[str] = []
    for phrase, word in TERM.findall(q):
        if phrase:
            words = WORD.findall(phrase)
            if words:
                terms.append('"' + " ".join(words) + '"')
            continue
        words = WORD.findall(word)
        terms += [f'"{w}"' for w in words]
        if words and word.endswith("*"):
            terms[-1] += "*"
    if terms and not terms[-1].endswith("*") and q and not q[-1].isspace() and not q.endswith('"'):
        terms[-1] += "*"
    return " ".join(terms)


def search(connection: sqlite3.Connection, model_folder: str | None, query: Query) -> dict[str, Any]:
    match = fts_query(query.q)
    if not match:
        raise SearchError(422, "invalid_input", "q", "q has no words to search for")
    mode = query.mode
    if mode in ("vector", "hybrid") and model_folder is None:
        if mode == "vector":
            raise SearchError(
                409, "no_embedding_model", "mode", "vector search needs an embedding model (settings)"
            )
        mode = "text"
    wanted = max(query.limit, CANDIDATES) if mode == "hybrid" else query.limit
    text_hits = _text_hits(connection, query, match, wanted) if mode in ("text", "hybrid") else []
    vector_hits = _vector_hits(connection, model_folder or "", query, wanted) if mode != "text" else []

    fused: dict[int, dict[str, Any]] = {}
    for rank, hit in enumerate(text_hits, start=1):
        fused[hit["id"]] = {**hit, "text_rank": rank, "score": 1 / (RRF_K + rank)}
    for rank, (chunk_id, similarity) in enumerate(vector_hits, start=1):
        entry = fused.setdefault(chunk_id, {"id": chunk_id, "score": 0.0})
        entry.update(vector_rank=rank, vector_score=round(similarity, 6))
        entry["score"] += 1 / (RRF_K + rank)
    if mode == "text":
        ordered = [fused[hit["id"]] | {"score": hit["text_score"]} for hit in text_hits]
    elif mode == "vector":
        ordered = [fused[chunk_id] | {"score": round(sim, 6)} for chunk_id, sim in vector_hits]
    else:
        ordered = sorted(fused.values(), key=lambda entry: -entry["score"])
    ordered = ordered[: query.limit]
    _fill_details(connection, [e for e in ordered if "path" not in e])
    results = [
        {
            "path": e["path"],
            "title": e["title"],
            "heading": e["heading"],
            "line": e["line"],
            "snippet": e["snippet"],
            "score": round(e["score"], 6),
            "text_rank": e.get("text_rank"),
            "text_score": e.get("text_score"),
            "vector_rank": e.get("vector_rank"),
            "vector_score": e.get("vector_score"),
        }
        for e in ordered
        if "path" in e  # a chunk removed since its vector matrix was read
    ]
    return {"vault_id": query.vault_id, "q": query.q, "mode": mode, "results": results}


def _filters(query: Query) -> tuple[str, list[Any]]:
    sql, params = "", []
    if query.folder:
        folder = query.folder.strip("/")
        sql += " AND c.path LIKE ? ESCAPE '\\'"
        params.append(folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%")
    if query.tag:
        sql += " AND EXISTS (SELECT 1 FROM vault_tags t WHERE t.vault_id = c.vault_id AND t.path = c.path AND t.tag = ?)"
        params.append(query.tag.lstrip("#").lower())
    return sql, params


def _text_hits(connection: sqlite3.Connection, query: Query, match: str, limit: int) -> list[dict[str, Any]]:
    filters, params = _filters(query)
    rows = connection.execute(
        "SELECT c.id, c.path, n.title, c.heading, c.line, bm25(vault_fts, ?, ?, ?) AS rank,"
        " snippet(vault_fts, 2, char(2), char(3), '…', 16)"
        " FROM vault_fts JOIN vault_chunks c ON c.id = vault_fts.rowid"
        " JOIN vault_notes n ON n.vault_id = c.vault_id AND n.path = c.path"
        f" WHERE vault_fts MATCH ? AND c.vault_id = ?{filters} ORDER BY rank LIMIT ?",
        (*WEIGHTS, match, query.vault_id, *params, limit),
    ).fetchall()
    return [
        {
            "id": row[0],
            "path": row[1],
            "title": row[2],
            "heading": row[3],
            "line": row[4],
            "text_score": round(-row[5], 6),
            "snippet": _marked(row[6]),
        }
        for row in rows
    ]


def _vector_hits(
    connection: sqlite3.Connection, folder: str, query: Query, limit: int
) -> list[tuple[int, float]]:
    import numpy as np

    try:
        model = embeddings.model_key(folder)
    except embeddings.ModelUnavailable as error:
        raise SearchError(409, "model_unavailable", "mode", str(error)) from None
    matrix = _matrix(connection, query.vault_id, model)
    if not len(matrix.ids):
        return []
    scores = matrix.vectors @ embeddings.embed(folder, [query.q])[0]
    if query.folder or query.tag:
        filters, params = _filters(query)
        allowed = [
            r[0]
            for r in connection.execute(
                f"SELECT c.id FROM vault_chunks c WHERE c.vault_id = ?{filters}", (query.vault_id, *params)
            )
        ]
        scores = np.where(np.isin(matrix.ids, np.asarray(allowed, dtype=np.int64)), scores, -np.inf)
    count = min(limit, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.argsort(-scores[top])]
    return [(int(matrix.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


def _matrix(connection: sqlite3.Connection, vault_id: str, model: str) -> _Matrix:
    import numpy as np

    row = connection.execute("SELECT generation FROM vault_index WHERE vault_id = ?", (vault_id,)).fetchone()
    generation = row[0] if row else 0
    with _matrices_lock:
        cached = _matrices.get((vault_id, model))
        if cached is not None and cached.generation == generation:
            return cached
        rows = connection.execute(
            "SELECT c.id, v.vector FROM vault_chunks c JOIN vault_vectors v"
            " ON v.vault_id = c.vault_id AND v.model = ? AND v.hash = c.hash WHERE c.vault_id = ?",
            (model, vault_id),
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = (
            np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, 1), np.float32)
        )
        _matrices[(vault_id, model)] = cached = _Matrix(generation, ids, vectors)
        return cached


def _fill_details(connection: sqlite3.Connection, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    by_id = {e["id"]: e for e in entries}
    rows = connection.execute(
        "SELECT c.id, c.path, n.title, c.heading, c.line, substr(f.body, 1, 200)"
        " FROM vault_chunks c JOIN vault_fts f ON f.rowid = c.id"
        " JOIN vault_notes n ON n.vault_id = c.vault_id AND n.path = c.path"
        f" WHERE c.id IN ({','.join('?' * len(by_id))})",
        list(by_id),
    )
    for chunk_id, path, title, heading, line, body in rows:
        by_id[chunk_id].update(path=path, title=title, heading=heading, line=line, snippet=html.escape(body))


def _marked(snippet: str) -> str:
    """FTS5's snippet as HTML: the note's text escaped, the matches in `<mark>`."""
    return html.escape(snippet).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
