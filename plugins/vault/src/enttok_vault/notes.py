"""A note as the app shows it: its metadata, the notes it links to and those linking to it.

Links are resolved when read, not when stored, so renaming or adding a note fixes every link
to it at once. A wiki link `[[Name]]` finds the note whose file is `Name.md` anywhere in the
vault (the shortest path first, as Obsidian does), or the one at that path; a Markdown link
finds the note at the path it names, relative to the linking note.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

NOTE_COLUMNS = "path, title, size, mtime_ns, hash, word_count, front_matter_json, headings_json, aliases_json, first_seen, updated_at"


def describe(connection: sqlite3.Connection, vault_id: str, path: str) -> dict[str, Any] | None:
    row = connection.execute(
        f"SELECT {NOTE_COLUMNS}, key, name_key FROM vault_notes WHERE vault_id = ? AND path = ?",
        (vault_id, path),
    ).fetchone()
    if row is None:
        return None
    key, name_key = row[-2], row[-1]
    tags = [
        r[0]
        for r in connection.execute(
            "SELECT tag FROM vault_tags WHERE vault_id = ? AND path = ? ORDER BY tag", (vault_id, path)
        )
    ]
    outgoing = []
    for kind, target, target_key, fragment, label, line, embed in connection.execute(
        "SELECT kind, target, target_key, fragment, label, line, embed FROM vault_links"
        " WHERE vault_id = ? AND source_path = ? ORDER BY ordinal",
        (vault_id, path),
    ):
        outgoing.append(
            {
                "kind": kind,
                "target": target,
                "fragment": fragment,
                "label": label,
                "line": line,
                "embed": bool(embed),
                "resolved_path": _resolve(connection, vault_id, kind, target_key),
            }
        )
    backlinks = [
        {"path": source, "title": title, "line": line, "kind": kind}
        for source, title, line, kind, target_key in connection.execute(
            "SELECT l.source_path, n.title, l.line, l.kind, l.target_key FROM vault_links l"
            " JOIN vault_notes n ON n.vault_id = l.vault_id AND n.path = l.source_path"
            " WHERE l.vault_id = ? AND l.target_key IN (?, ?) AND l.kind IN ('wiki', 'markdown')"
            " ORDER BY l.source_path, l.line",
            (vault_id, key, name_key),
        )
        # Two notes may share a name: a link is a backlink only of the one it resolves to.
        if _resolve(connection, vault_id, kind, target_key) == path
    ]
    return {
        "vault_id": vault_id,
        "path": row[0],
        "title": row[1],
        "size": row[2],
        "modified_at": row[3] / 1e9,
        "hash": row[4],
        "word_count": row[5],
        "front_matter": json.loads(row[6]),
        "headings": json.loads(row[7]),
        "aliases": json.loads(row[8]),
        "tags": tags,
        "first_seen": row[9],
        "updated_at": row[10],
        "links": outgoing,
        "backlinks": backlinks,
    }


def _resolve(connection: sqlite3.Connection, vault_id: str, kind: str, target_key: str | None) -> str | None:
    if target_key is None or kind == "external":
        return None
    found = connection.execute(
        "SELECT path FROM vault_notes WHERE vault_id = ? AND key = ?", (vault_id, target_key)
    ).fetchone()
    if found is None and kind == "wiki":
        found = connection.execute(
            "SELECT path FROM vault_notes WHERE vault_id = ? AND name_key = ? ORDER BY length(path), path LIMIT 1",
            (vault_id, target_key),
        ).fetchone()
    return found[0] if found else None
