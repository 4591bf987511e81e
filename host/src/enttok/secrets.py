"""Where secrets live: the OS keyring, else a file encrypted with BACKEND_SECRET_KEY, else
nowhere (saving one fails with a clear error rather than writing plaintext).

Entries are keyed `<plugin>:<account_id>:<field>` under the service `enttok`. Both
libraries load on the first secret used, not at start-up.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from enttok import logs

log = logging.getLogger(__name__)

SERVICE = "enttok"


class SecretsUnavailable(RuntimeError):
    """No OS keyring backend and no BACKEND_SECRET_KEY: there is nowhere safe to keep a secret."""


class SecretStore(Protocol):
    name: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...


class KeyringStore:
    name = "keyring"

    def __init__(self, backend: object) -> None:
        self._backend = backend

    def get(self, key: str) -> str | None:
        return self._backend.get_password(SERVICE, key)  # type: ignore[attr-defined]

    def set(self, key: str, value: str) -> None:
        self._backend.set_password(SERVICE, key, value)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._backend.delete_password(SERVICE, key)  # type: ignore[attr-defined]


class EncryptedFileStore:
    """All secrets in one Fernet-encrypted file, replaced atomically on every write."""

    name = "encrypted-file"

    def __init__(self, path: Path, secret_key: str) -> None:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"enttok secret store").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        from cryptography.fernet import InvalidToken

        try:
            sealed = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            return json.loads(self._fernet.decrypt(sealed))
        except InvalidToken:
            raise SecretsUnavailable(
                f"{self._path} was not written with this BACKEND_SECRET_KEY; its secrets cannot be read"
            ) from None

    def _save(self, entries: dict[str, str]) -> None:
        temporary = self._path.with_name(self._path.name + ".tmp")
        with open(temporary, "wb") as sealed:
            sealed.write(self._fernet.encrypt(json.dumps(entries).encode()))
            sealed.flush()
            os.fsync(sealed.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, self._path)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._load().get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            entries = self._load()
            entries[key] = value
            self._save(entries)

    def delete(self, key: str) -> None:
        with self._lock:
            entries = self._load()
            if entries.pop(key, None) is not None:
                self._save(entries)


class Unavailable:
    name = "none"

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str) -> None:
        raise SecretsUnavailable(
            "no OS keyring is available and BACKEND_SECRET_KEY is not set, so the secret was not saved"
        )

    def delete(self, key: str) -> None:
        return None


class Secrets:
    """The host's secret store, chosen on first use; every value read or written is also
    registered with the log scrubber."""

    def __init__(self, data_dir: Path, secret_key: str | None) -> None:
        self._data_dir = data_dir
        self._secret_key = secret_key
        self._store: SecretStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> SecretStore:
        with self._lock:
            if self._store is None:
                self._store = self._choose()
                log.info("secrets are kept in: %s", self._store.name)
            return self._store

    def _choose(self) -> SecretStore:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 0) > 0:
            return KeyringStore(backend)
        if self._secret_key:
            return EncryptedFileStore(self._data_dir / "data" / "secrets.enc", self._secret_key)
        return Unavailable()

    def get(self, key: str) -> str | None:
        value = self.store.get(key)
        if value:
            logs.redact(value)
        return value

    def set(self, key: str, value: str) -> None:
        logs.redact(value)
        self.store.set(key, value)

    def delete(self, key: str) -> None:
        self.store.delete(key)
