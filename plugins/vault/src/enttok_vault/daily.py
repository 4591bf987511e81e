"""The daily note: where it lives, creating it from a template, and appending a section.

The person may have the note open in an editor while the backend appends to it. Every write
is a temporary file renamed over the note (a reader sees the old note or the new one, never
half of one), and it is made only if the note still has the content hash read before the
change was composed: if the person saved in between, the append is composed again on their
version (or, when the caller named the hash it expects, refused), never written over it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from enttok_vault.config import VaultConfig

DEFAULT_TEMPLATE = "# {{date}}\n\n"
TOKENS = re.compile(r"YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd")
ATTEMPTS = 5

_note_locks: dict[Path, threading.Lock] = {}
_note_locks_guard = threading.Lock()


class NotText(Exception):
    """The note is not UTF-8 text: nothing is appended to it."""


class Conflict(Exception):
    """The note changed since the hash the caller expected."""

    def __init__(self, current_hash: str | None) -> None:
        super().__init__("the daily note changed since it was read")
        self.current_hash = current_hash


@dataclass(frozen=True)
class DailyNote:
    path: str
    content: str | None
    hash: str | None
    created: bool = False

    def public(self) -> dict[str, object]:
        return {
            "path": self.path,
            "exists": self.content is not None,
            "content": self.content,
            "hash": self.hash,
            "created": self.created,
        }


def daily_path(vault: VaultConfig, date: dt.date) -> str:
    """The vault-relative path of the daily note of `date`, from the folder and pattern."""

    def token(match: re.Match[str]) -> str:
        return {
            "YYYY": f"{date.year:04d}",
            "YY": f"{date.year % 100:02d}",
            "MMMM": date.strftime("%B"),
            "MMM": date.strftime("%b"),
            "MM": f"{date.month:02d}",
            "M": str(date.month),
            "DD": f"{date.day:02d}",
            "D": str(date.day),
            "dddd": date.strftime("%A"),
            "ddd": date.strftime("%a"),
        }[match.group(0)]

    name = TOKENS.sub(token, vault.daily_pattern)
    if not name.endswith(".md"):
        name += ".md"
    folder = vault.daily_folder.strip("/")
    return f"{folder}/{name}" if folder else name


def read(vault: VaultConfig, date: dt.date) -> DailyNote:
    relative = daily_path(vault, date)
    content = _read_text(vault.root / relative)
    return DailyNote(relative, content, _hash(content))


def create(vault: VaultConfig, date: dt.date) -> DailyNote:
    """The daily note, created from the template if it does not exist yet."""
    relative = daily_path(vault, date)
    path = vault.root / relative
    with _note_lock(path):
        content = _read_text(path)
        if content is not None:
            return DailyNote(relative, content, _hash(content))
        content = _template(vault, date)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_if_unchanged(path, content, expected=None)
        return DailyNote(relative, content, _hash(content), created=True)


def append(
    vault: VaultConfig, date: dt.date, section: str | None, text: str, expected_hash: str | None
) -> DailyNote:
    """Append `text` (under a `## section` heading if given) to the day's note, creating it
    from the template first if needed."""
    relative = daily_path(vault, date)
    path = vault.root / relative
    addition = (f"## {section.strip()}\n\n" if section and section.strip() else "") + text.strip("\n") + "\n"
    with _note_lock(path):
        late: str | None = None  # an in-place save that reached the note we had just replaced
        written_hash: str | None = None
        for _ in range(ATTEMPTS):
            current = _read_text(path)
            current_hash = _hash(current)
            if late is not None:
                if current_hash != written_hash:
                    raise Conflict(current_hash)  # a third writer: do not guess, say so
                current, late = late, None
            elif expected_hash is not None and expected_hash != current_hash:
                raise Conflict(current_hash)
            base = current if current is not None else _template(vault, date)
            content = base + _separator(base) + addition
            path.parent.mkdir(parents=True, exist_ok=True)
            replaced, late = _replace_if_unchanged(path, content, expected=current_hash)
            if replaced and late is None:
                return DailyNote(relative, content, _hash(content), created=current is None)
            if replaced:
                written_hash = _hash(content)
                continue  # compose again on the late save, over what was just written
            if expected_hash is not None:
                raise Conflict(_hash(_read_text(path)))
    raise Conflict(_hash(_read_text(path)))


def _separator(base: str) -> str:
    """A blank line between the note and the new section, whatever the note ends with."""
    if not base or base.endswith("\n\n"):
        return ""
    return "\n" if base.endswith("\n") else "\n\n"


def _template(vault: VaultConfig, date: dt.date) -> str:
    template = DEFAULT_TEMPLATE
    if vault.daily_template:
        found = _read_text(vault.root / vault.daily_template)
        if found is not None:
            template = found
    title = Path(daily_path(vault, date)).stem
    return template.replace("{{date}}", date.isoformat()).replace("{{title}}", title)


def _replace_if_unchanged(path: Path, content: str, expected: str | None) -> tuple[bool, str | None]:
    """Write `content` to a temporary file beside the note and rename it over the note, if
    the note's hash is still `expected` (None: the note must not exist).

    Returns (replaced, late): `late` is the replaced note's text when an editor saving in
    place wrote to it between the check and the rename, so that save is not in the note yet.
    What no check can see is a rename-saving editor's rename in the microseconds between the
    check and ours; editors do not lock files, so that window is made small, not closed."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        try:
            old = open(path, "rb")  # noqa: SIM115 (held open across the rename)
        except FileNotFoundError:
            old = None
        seen = old.read() if old is not None else None
        try:
            if _hash_bytes(seen) != expected:
                return False, None  # the person saved meanwhile: compose again on their version
            os.replace(temporary, path)
            temporary = ""
            if old is not None:
                old.seek(0)
                after = old.read()
                if after != seen:
                    return True, after.decode("utf-8", errors="replace")
            return True, None
        finally:
            if old is not None:
                old.close()
    finally:
        if temporary:
            Path(temporary).unlink(missing_ok=True)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise NotText(f"{path.name} is not UTF-8 text") from None


def _hash(content: str | None) -> str | None:
    return None if content is None else _hash_bytes(content.encode("utf-8"))


def _hash_bytes(data: bytes | None) -> str | None:
    return None if data is None else hashlib.blake2b(data, digest_size=16).hexdigest()


def _note_lock(path: Path) -> threading.Lock:
    with _note_locks_guard:
        return _note_locks.setdefault(path, threading.Lock())
