"""Where secrets live: the OS keyring, else a file encrypted with BACKEND_SECRET_KEY, else
nowhere (saving one fails with a clear error rather than writing plaintext).

Entries are keyed `<plugin>:<account_id>:<field>` under the service `enttok`. Both
libraries load on the first secret used, not at start-up.

Once `secrets.enc` exists it is where the secrets are, whatever keyring appears later. If it
cannot be opened (BACKEND_SECRET_KEY missing or not the one it was written with), that is a
fault of the host, not of any account: `check()` finds it at start, `/status` shows it, and
every use raises SecretsUnavailable (`secrets_unavailable`), so no sync mistakes a missing
secret for a refused one and marks its account `needs_reauth`.
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
from enttok.errors import PermanentError

log = logging.getLogger(__name__)

SERVICE = "enttok"
SEALED_FILE = "secrets.enc"


class SecretsUnavailable(PermanentError):
    """There is nowhere safe to keep a secret (no OS keyring, no BACKEND_SECRET_KEY), or the
    secrets saved cannot be read with this BACKEND_SECRET_KEY. A job that meets it fails with
    this code; it says nothing about the account's credentials."""

    code = "secrets_unavailable"


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

    def check(self) -> None:
        """Raise SecretsUnavailable unless the file opens with this key."""
        with self._lock:
            self._load()

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


class Unopenable:
    """The secrets exist but cannot be read: every use says why, none pretends they are gone."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def get(self, key: str) -> str | None:
        raise SecretsUnavailable(self.reason)

    def set(self, key: str, value: str) -> None:
        raise SecretsUnavailable(self.reason)

    def delete(self, key: str) -> None:
        raise SecretsUnavailable(self.reason)


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
    """The host's secret store, chosen on first use (or by `check`); the values in use are
    registered with the log scrubber, and forgotten there once replaced or deleted."""

    def __init__(self, data_dir: Path, secret_key: str | None) -> None:
        self._data_dir = data_dir
        self._secret_key = secret_key
        self._store: SecretStore | None = None
        self._lock = threading.Lock()
        self._in_use: dict[str, str] = {}
        if secret_key:
            logs.redact(secret_key)

    @property
    def store(self) -> SecretStore:
        with self._lock:
            if self._store is None:
                self._store = self._choose()
                if isinstance(self._store, Unopenable):
                    log.error("the secret store cannot be opened: %s", self._store.reason)
                else:
                    log.info("secrets are kept in: %s", self._store.name)
            return self._store

    def check(self) -> str | None:
        """At start: open the encrypted file if there is one (cheap, unlike a keyring); the
        reason it cannot be opened, or None. Without the file, the choice stays lazy."""
        if not (self._data_dir / "data" / SEALED_FILE).exists():
            return None
        store = self.store
        return store.reason if isinstance(store, Unopenable) else None

    def status(self) -> dict[str, object]:
        """For /status: the store (None until first used) and why it cannot be used, if so."""
        store = self._store
        broken = isinstance(store, Unopenable)
        return {
            "store": store.name if store is not None else None,
            "ok": not broken,
            "error": {"code": SecretsUnavailable.code, "message": store.reason} if broken else None,
        }

    def _choose(self) -> SecretStore:
        sealed = self._data_dir / "data" / SEALED_FILE
        if sealed.exists():
            if not self._secret_key:
                return Unopenable(
                    EncryptedFileStore.name,
                    f"{sealed} holds the saved secrets but BACKEND_SECRET_KEY is not set",
                )
            store = EncryptedFileStore(sealed, self._secret_key)
            try:
                store.check()
            except SecretsUnavailable as error:
                return Unopenable(EncryptedFileStore.name, str(error))
            return store
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 0) > 0:
            return KeyringStore(backend)
        if self._secret_key:
            return EncryptedFileStore(sealed, self._secret_key)
        return Unavailable()

    def get(self, key: str) -> str | None:
        value = self.store.get(key)
        self._in_use_now(key, value)
        return value

    def set(self, key: str, value: str) -> None:
        logs.track_secret(value)  # before the write: a failing write may echo it
        self.store.set(key, value)
        self._in_use_now(key, value)

    def delete(self, key: str) -> None:
        self.store.delete(key)
        self._in_use_now(key, None)

    def _in_use_now(self, key: str, value: str | None) -> None:
        with self._lock:
            previous = self._in_use.pop(key, None)
            if value:
                self._in_use[key] = value
        if previous and previous != value:
            logs.forget_secret(previous)
        if value:
            logs.track_secret(value)
