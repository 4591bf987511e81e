"""The vault plugin's settings and job payloads.

Imported when the host loads the plugin, so it holds only pydantic models and the glob
matching they define; the parsers, the model and the watcher load with the first job.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_POLL_MS = 1000
"""How often the watcher reads the settings again for vaults added, moved or switched off."""
DEFAULT_EXCLUDE = [".obsidian/**", ".trash/**", ".*", ".*/**", "**/.*", "**/.*/**"]
VAULT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class VaultConfig(BaseModel):
    """One folder of Markdown notes, as Obsidian keeps it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(description="A short id the routes and jobs use (letters, digits, _ and -).")
    path: str = Field(min_length=1, description="The vault's folder, absolute.")
    include: list[str] = Field(
        default_factory=lambda: ["**/*.md"], description="Globs of notes, from the root."
    )
    exclude: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE),
        description="Globs left out; hidden files and folders, .obsidian/ and .trash/ by default.",
    )
    daily_folder: str = Field("daily", description="Where daily notes live, relative to the vault.")
    daily_pattern: str = Field(
        "YYYY-MM-DD", min_length=1, description="Daily note file name (YYYY, MM, DD, ddd, dddd, MMM, MMMM)."
    )
    daily_template: str | None = Field(
        None, description="A note used as the template of a new daily note, relative to the vault."
    )
    watch: bool = Field(True, description="Index changes while the host runs, and scan at start-up.")

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not VAULT_ID.fullmatch(value):
            raise ValueError("use 1-64 letters, digits, _ or -, starting with a letter or digit")
        return value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).expanduser().is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @field_validator("daily_folder")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = PurePosixPath(value.replace("\\", "/")).parts
        if value.startswith("/") or ".." in parts:
            raise ValueError("must be a folder inside the vault")
        return value

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser()

    def wants(self, relative: str) -> bool:
        """Whether a vault-relative POSIX path is a note of this vault."""
        return matches_any(relative, self.include) and not matches_any(relative, self.exclude)


class VaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vaults: list[VaultConfig] = Field(default_factory=list, description="The vaults, none by default.")
    embedding_model: str | None = Field(
        None,
        description="A folder holding a model2vec static embedding model; vector search is off without one. "
        "Models are never downloaded.",
    )
    max_note_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Notes larger than this are reported and skipped."
    )

    @field_validator("vaults")
    @classmethod
    def _unique_ids(cls, value: list[VaultConfig]) -> list[VaultConfig]:
        ids = [vault.id for vault in value]
        if len(ids) != len(set(ids)):
            raise ValueError("vault ids must be unique")
        return value

    def vault(self, vault_id: str) -> VaultConfig | None:
        return next((vault for vault in self.vaults if vault.id == vault_id), None)


class ScanPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    since: float | None = Field(
        None, description="Only files modified after this Unix time are considered changed (others are kept)."
    )
    force_full: bool = Field(False, description="Read and parse every note, changed or not.")


class IndexRebuildPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    embedding_model: str | None = Field(
        None, description="A model folder for this vault, kept for its later updates; the setting otherwise."
    )


class IndexUpdatePayload(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    vault_id: str = Field(min_length=1)
    changed_paths: list[str] = Field(default_factory=list, max_length=100_000)
    deleted_paths: list[str] = Field(default_factory=list, max_length=100_000)


def vault_relative(vault: VaultConfig, path: str) -> str | None:
    """A path from a payload or the watcher as a vault-relative POSIX path, or None if it
    is outside the vault."""
    candidate = Path(path)
    root = vault.root
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(root)
        except ValueError:
            try:
                candidate = candidate.resolve().relative_to(root.resolve())
            except (ValueError, OSError):
                return None
    parts = candidate.as_posix().split("/")
    if not parts or any(part in ("", ".", "..") for part in parts):
        return None
    return "/".join(parts)


def matches_any(relative: str, patterns: list[str]) -> bool:
    return any(_glob(pattern).fullmatch(relative) for pattern in patterns)


_compiled: dict[str, re.Pattern[str]] = {}
_GLOB_PARTS = re.compile(r"\*\*/|/\*\*$|\*\*|\*|\?|\[[^\]/]+\]|[^*?\[]+|\[")


def _glob(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression over vault-relative POSIX paths: `**/` matches any
    number of folders (none included), `/**` everything below, `*` and `?` stay within one
    name, `[abc]` is a set."""
    if pattern not in _compiled:
        translated = {"**/": "(?:.*/)?", "/**": "(?:/.*)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        parts = []
        for piece in _GLOB_PARTS.findall(pattern):
            if piece in translated:
                parts.append(translated[piece])
            elif piece.startswith("[") and piece.endswith("]") and len(piece) > 2:
                parts.append("[" + piece[1:-1].replace("!", "^", 1 if piece[1] == "!" else 0) + "]")
            else:
                parts.append(re.escape(piece))
        _compiled[pattern] = re.compile("".join(parts), re.DOTALL)
    return _compiled[pattern]
