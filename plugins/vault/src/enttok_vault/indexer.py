"""`vault.scan`, `vault.index_rebuild` and `vault.index_update`: the vault's notes into
SQLite, and the search index kept with them.

A note is read again only when its size or mtime changed, and parsed again only when its
content hash changed; a new path with the hash of a path that disappeared is a rename. Each
batch of notes is one `ctx.sync` page: its rows, its chunks' full text and its timeline
entries commit together. Vectors come last, for the chunk texts that have none for the
vault's model yet, so an edit re-embeds only the chunks it changed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from enttok import Activity, JobContext, PermanentError
from enttok_vault import embeddings, files, store, vectors
from enttok_vault.config import (
    IndexRebuildPayload,
    IndexUpdatePayload,
    ScanPayload,
    VaultConfig,
    VaultSettings,
    vault_relative,
)
from enttok_vault.markdown import ParsedNote, parse_note

BATCH = 400
MERGE_AFTER = 200  # notes written by one job, after which the full-text index is merged

_vault_locks: dict[str, threading.Lock] = {}
_vault_locks_guard = threading.Lock()


@dataclass
class Outcome:
    counts: Counter[str] = field(default_factory=Counter)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the time went (notes read and written, embedding): the job says it, not a profiler."""

    def result(self) -> dict[str, Any]:
        return {
            **dict(sorted(self.counts.items())),
            "skipped": self.skipped,
            "warnings": self.warnings,
            "seconds": {phase: round(value, 3) for phase, value in self.seconds.items()},
        }


def scan(ctx: JobContext, payload: ScanPayload) -> dict[str, Any]:
    settings, vault = _vault(ctx, payload.vault_id)
    with _vault_lock(vault.id):
        listing = files.list_notes(vault)
        outcome = Outcome(skipped=list(listing.problems))
        outcome.counts["listed"] = len(listing.files)
        ctx.progress(0.05, f"listed {len(listing.files)} notes; reading the changed ones")
        known = store.known_notes(ctx, vault.id)
        since_ns = int(payload.since * 1e9) if payload.since is not None else None
        changed = [
            path
            for path, state in listing.files.items()
            if payload.force_full
            or path not in known
            or (
                (known[path].size, known[path].mtime_ns) != (state.size, state.mtime_ns)
                and (since_ns is None or state.mtime_ns > since_ns)
            )
        ]
        vanished_now = {p["path"] for p in listing.problems if p["reason"] == "vanished"}
        deleted = [path for path in known if path not in listing.files and path not in vanished_now]
        deleted += [path for path in vanished_now if path in known]
        _apply(ctx, settings, vault, known, changed, deleted, outcome, rewrite=payload.force_full)
        return outcome.result()


def index_update(ctx: JobContext, payload: IndexUpdatePayload) -> dict[str, Any]:
    settings, vault = _vault(ctx, payload.vault_id)
    with _vault_lock(vault.id):
        outcome = Outcome()
        requested = [vault_relative(vault, raw) for raw in [*payload.changed_paths, *payload.deleted_paths]]
        known = store.known_notes(ctx, vault.id, [path for path in requested if path is not None])
        changed: list[str] = []
        deleted: list[str] = []
        for raw in dict.fromkeys([*payload.changed_paths, *payload.deleted_paths]):
            path = vault_relative(vault, raw)
            if path is None:
                outcome.skipped.append({"path": raw, "reason": "outside_vault"})
                continue
            if not vault.wants(path):
                outcome.counts["ignored"] += 1
                continue
            state = files.stat_note(vault, path)  # the disk decides, whatever the event said
            if state is None:
                if path in known:
                    deleted.append(path)
            elif path not in known or (known[path].size, known[path].mtime_ns) != (
                state.size,
                state.mtime_ns,
            ):
                changed.append(path)
            else:
                outcome.counts["unchanged"] += 1
        _apply(ctx, settings, vault, known, changed, deleted, outcome, rewrite=False, scoped=True)
        return outcome.result()


def index_rebuild(ctx: JobContext, payload: IndexRebuildPayload) -> dict[str, Any]:
    """Drop the vault's index and build it again from every note, with the given model."""
    _, vault = _vault(ctx, payload.vault_id)
    if payload.embedding_model is not None:
        try:
            embeddings.model_key(payload.embedding_model)
        except embeddings.ModelUnavailable as error:
            raise PermanentError(str(error), code="model_unavailable") from None
    with _vault_lock(vault.id), ctx.transaction() as tx:
        tx.execute(
            "DELETE FROM vault_fts WHERE rowid IN (SELECT id FROM vault_chunks WHERE vault_id = ?)",
            (vault.id,),
        )
        for table in ("vault_chunks", "vault_vectors"):
            tx.execute(f"DELETE FROM {table} WHERE vault_id = ?", (vault.id,))
        tx.execute(
            "INSERT INTO vault_index (vault_id, model_override, rebuilt_at) VALUES (?, ?, ?)"
            " ON CONFLICT (vault_id) DO UPDATE SET model_override = excluded.model_override,"
            " rebuilt_at = excluded.rebuilt_at, generation = generation + 1",
            (vault.id, payload.embedding_model, store.now()),
        )
    return scan(ctx, ScanPayload(vault_id=vault.id, force_full=True))


def _apply(
    ctx: JobContext,
    settings: VaultSettings,
    vault: VaultConfig,
    known: dict[str, store.Known],
    changed: list[str],
    deleted: list[str],
    outcome: Outcome,
    rewrite: bool,
    scoped: bool = False,
) -> None:
    """Write the changed notes and remove the deleted ones, then embed what needs it:
    `scoped` (an update of a few paths) looks only at those notes' chunks."""
    started = time.perf_counter()
    touched = [*changed, *deleted]
    old_hashes = store.chunk_hashes(ctx, vault.id, touched) if scoped else None
    gone_by_hash = {known[path].hash: path for path in deleted}
    first_scan = not _index_exists(ctx, vault.id)
    today = dt.date.today()
    deleted_set = set(deleted)
    for start in range(0, len(changed), BATCH):
        ctx.check_cancelled()
        with ctx.sync(vault.id) as page:
            for path in changed[start : start + BATCH]:
                try:
                    note = files.read_note(vault, path, settings.max_note_bytes)
                except files.Skipped as skipped:
                    outcome.skipped.append({"path": path, "reason": skipped.reason, "detail": skipped.detail})
                    if path in known:
                        deleted_set.add(path)  # what is indexed no longer says what the file does
                    continue
                outcome.counts["read"] += 1
                before = known.get(path)
                if before is not None and before.hash == note.hash and not rewrite:
                    page.execute(
                        "UPDATE vault_notes SET size = ?, mtime_ns = ? WHERE vault_id = ? AND path = ?",
                        (note.state.size, note.state.mtime_ns, vault.id, path),
                    )
                    outcome.counts["unchanged"] += 1
                    continue
                parsed = parse_note(path, note.text)
                outcome.warnings += [{"path": path, "warning": w} for w in parsed.warnings]
                renamed_from = gone_by_hash.pop(note.hash, None) if before is None else None
                first_seen = (
                    known[renamed_from].first_seen
                    if renamed_from
                    else (before.first_seen if before else store.now())
                )
                if renamed_from is not None:
                    store.delete_note(page, vault.id, renamed_from)
                    deleted_set.discard(renamed_from)
                    outcome.counts["renamed"] += 1
                else:
                    outcome.counts["updated" if before else "added"] += 1
                store.write_note(page, vault.id, path, note, parsed, first_seen)
                edited = dt.datetime.fromtimestamp(note.state.mtime_ns / 1e9, dt.UTC)
                content_changed = renamed_from is None and (before is None or before.hash != note.hash)
                if content_changed and (not first_scan or edited.astimezone().date() == today):
                    page.activity(_activity(vault.id, path, parsed, edited, created=before is None))
        ctx.progress(0.05 + 0.75 * min(1.0, (start + BATCH) / max(1, len(changed))), "indexing notes")
    with ctx.sync(vault.id) as page:
        for path in sorted(deleted_set):
            store.delete_note(page, vault.id, path)
        outcome.counts["removed"] = len(deleted_set)
        page.execute(
            "INSERT INTO vault_index (vault_id, scanned_at, generation) VALUES (?, ?, 1) ON CONFLICT (vault_id)"
            " DO UPDATE SET scanned_at = excluded.scanned_at, generation = generation + 1",
            (vault.id, store.now()),
        )
    if outcome.counts["added"] + outcome.counts["updated"] + outcome.counts["renamed"] >= MERGE_AFTER:
        store.merge_full_text(ctx)
    outcome.seconds["notes"] = time.perf_counter() - started
    started = time.perf_counter()
    vectors.embed_missing(
        ctx, settings, vault.id, outcome.counts, outcome.warnings, touched if scoped else None, old_hashes
    )
    outcome.seconds["embeddings"] = time.perf_counter() - started


def _activity(vault_id: str, path: str, parsed: ParsedNote, edited: dt.datetime, created: bool) -> Activity:
    """One timeline entry per note and day it was written on: the journal sees writing too."""
    return Activity(
        account_id=vault_id,
        external_id=f"{path}@{edited.astimezone().date().isoformat()}",
        event_type="note.created" if created else "note.edited",
        event_time=edited,
        title=parsed.title,
        description=f"{parsed.word_count} words",
        raw={"vault_id": vault_id, "path": path, "tags": parsed.tags},
    )


def _index_exists(ctx: JobContext, vault_id: str) -> bool:
    with ctx.db() as connection:
        row = connection.execute(
            "SELECT scanned_at FROM vault_index WHERE vault_id = ?", (vault_id,)
        ).fetchone()
    return bool(row and row[0])


def _vault(ctx: JobContext, vault_id: str) -> tuple[VaultSettings, VaultConfig]:
    settings: VaultSettings = ctx.settings
    vault = settings.vault(vault_id)
    if vault is None:
        raise PermanentError(f"no vault with id {vault_id!r} in the settings", code="unknown_vault")
    if not vault.root.is_dir():
        raise PermanentError(f"the vault folder {vault.root} does not exist", code="vault_missing")
    return settings, vault


def _vault_lock(vault_id: str) -> threading.Lock:
    """One writer per vault at a time: a scan and an update never interleave their reads."""
    with _vault_locks_guard:
        return _vault_locks.setdefault(vault_id, threading.Lock())
