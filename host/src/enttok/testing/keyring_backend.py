"""A keyring backend for tests: the real `keyring` API over a JSON file in a temporary dir.

The host under test selects it with `PYTHON_KEYRING_BACKEND=enttok.testing.keyring_backend.FileKeyring`
and `ENTTOK_TEST_KEYRING=<path>`, so tests exercise the same calls as the OS keyring without
touching the developer's own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["ENTTOK_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}

    def _save(self, entries: dict[str, str]) -> None:
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries))
        os.replace(temporary, self._path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}\0{username}"] = password
        self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        entries.pop(f"{service}\0{username}", None)
        self._save(entries)
