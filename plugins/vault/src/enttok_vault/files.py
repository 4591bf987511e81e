"""The vault on disk: listing its notes and reading one.

A vault is a folder a person keeps by hand, so anything may be in it: symlinks that loop,
files that disappear between the listing and the read, files in another encoding, an
exported PDF renamed `.md`. None of these fails a job; each is reported and skipped.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field

from enttok_vault.config import VaultConfig, matches_any

PROBE = "\x00"  # a file name no file has: an excluded folder excludes it too


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int


@dataclass
class Listing:
    files: dict[str, FileState] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class NoteFile:
    state: FileState
    hash: str
    text: str


class Skipped(Exception):
    """A note that could not be read, with the reason a person can act on."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def list_notes(vault: VaultConfig) -> Listing:
    """Every note of the vault with its size and mtime, following symlinked folders once."""
    listing = Listing()
    visited: set[tuple[int, int]] = set()

    def visit(directory: str, relative: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            identity = _identity(os.stat(directory))
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except FileNotFoundError:
            listing.problems.append({"path": relative or ".", "reason": "vanished"})
            return
        except OSError as error:
            listing.problems.append({"path": relative or ".", "reason": _reason(error)})
            return
        if identity in ancestors:
            listing.problems.append({"path": relative, "reason": "symlink_loop"})
            return
        if identity in visited:
            listing.problems.append({"path": relative, "reason": "already_listed_elsewhere"})
            return
        visited.add(identity)
        inside = ancestors | {identity}
        for entry in entries:
            path = f"{relative}/{entry.name}" if relative else entry.name
            try:
                if entry.is_dir(follow_symlinks=True):
                    if not matches_any(f"{path}/{PROBE}", vault.exclude):
                        visit(entry.path, path, inside)
                elif not vault.wants(path):
                    continue
                elif entry.is_file(follow_symlinks=True):
                    stat = entry.stat(follow_symlinks=True)
                    listing.files[path] = FileState(stat.st_size, stat.st_mtime_ns)
                elif entry.is_symlink():
                    listing.problems.append({"path": path, "reason": _symlink_reason(entry.path)})
            except FileNotFoundError:
                listing.problems.append({"path": path, "reason": "vanished"})
            except OSError as error:
                listing.problems.append({"path": path, "reason": _reason(error)})

    visit(str(vault.root), "", frozenset())
    return listing


def stat_note(vault: VaultConfig, relative: str) -> FileState | None:
    """The note's size and mtime now, or None if it is gone (or is no longer a file)."""
    try:
        stat = os.stat(vault.root / relative)
    except OSError:
        return None
    if not os.path.isfile(vault.root / relative):
        return None
    return FileState(stat.st_size, stat.st_mtime_ns)


def read_note(vault: VaultConfig, relative: str, max_bytes: int) -> NoteFile:
    """The note's bytes hashed and decoded, or Skipped with why."""
    path = vault.root / relative
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            if stat.st_size > max_bytes:
                raise Skipped("too_large", f"{stat.st_size} bytes, over the {max_bytes} allowed")
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise Skipped("vanished") from None
    except IsADirectoryError:
        raise Skipped("not_a_file") from None
    except OSError as error:
        raise Skipped(_reason(error), str(error.strerror or "")) from None
    if len(data) > max_bytes:
        raise Skipped("too_large", f"over the {max_bytes} bytes allowed")
    return NoteFile(
        FileState(len(data), stat.st_mtime_ns),
        hashlib.blake2b(data, digest_size=16).hexdigest(),
        _decode(data),
    )


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise Skipped("not_utf8", "a UTF-16 byte order mark, then invalid text") from None
    if b"\x00" in data[:8192]:
        raise Skipped("binary", "contains NUL bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Skipped("not_utf8", f"invalid UTF-8 at byte {error.start}") from None


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _symlink_reason(path: str) -> str:
    try:
        os.stat(path)
    except OSError as error:
        return _reason(error) if error.errno == errno.ELOOP else "broken_symlink"
    return "not_a_file"


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "symlink_loop"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if error.errno == errno.ENAMETOOLONG:
        return "name_too_long"
    return "unreadable"
