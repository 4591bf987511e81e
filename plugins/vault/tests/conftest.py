"""Helpers for the vault tests: a vault folder in tmp_path, the host set up to index it,
and a tiny model2vec model built and saved by the test itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from enttok.testing import RunningHost


class Vault:
    """A vault folder the test writes notes into, and the host that indexes it."""

    def __init__(self, host: RunningHost, root: Path, vault_id: str = "notes") -> None:
        self.host, self.root, self.id = host, root, vault_id

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def run(self, job_type: str, timeout: float = 120.0, **payload: Any) -> dict[str, Any]:
        """Run a job of this vault; its result (the test fails if the job did not succeed)."""
        job = self.host.run(job_type, {"vault_id": self.id, **payload}, timeout=timeout)
        assert job["status"] == "succeeded", job
        return job["result"]

    def scan(self, **payload: Any) -> dict[str, Any]:
        return self.run("vault.scan", **payload)

    def search(self, q: str, **params: Any) -> dict[str, Any]:
        response = self.host.get("/plugins/vault/search", params={"vault_id": self.id, "q": q, **params})
        assert response.status_code == 200, response.text
        return response.json()

    def note(self, path: str) -> dict[str, Any]:
        response = self.host.get("/plugins/vault/note", params={"vault_id": self.id, "path": path})
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        connection = sqlite3.connect(self.host.data_dir / "data" / "index.db")
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()


def configure(host: RunningHost, vaults: list[dict[str, Any]], **settings: Any) -> None:
    response = host.post("/settings", json={"plugins": {"vault": {"vaults": vaults, **settings}}})
    assert response.status_code == 200, response.text


@pytest.fixture
def vault(enttok_host: Callable[..., RunningHost], tmp_path: Path) -> Callable[..., Vault]:
    """`vault(watch=False, **settings)`: a host with the vault plugin and an empty vault."""

    def make(watch: bool = False, vault_options: dict[str, Any] | None = None, **settings: Any) -> Vault:
        root = tmp_path / "vault"
        root.mkdir(exist_ok=True)
        host = enttok_host(plugins=["vault"])
        configure(
            host, [{"id": "notes", "path": str(root), "watch": watch, **(vault_options or {})}], **settings
        )
        return Vault(host, root)

    return make


# Words of three topics, each a direction of its own in the tiny model: a note about pets
# is near a query about animals although they share no word.
TOPICS = {
    (1.0, 0.0, 0.0, 0.0): ["cat", "kitten", "dog", "puppy", "animals", "pets", "vet"],
    (0.0, 1.0, 0.0, 0.0): ["budget", "invoice", "money", "costs", "finance", "spending"],
    (0.0, 0.0, 1.0, 0.0): ["hiking", "mountain", "trail", "summit", "outdoors"],
}


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """A model2vec static model of a few dozen words, saved to disk by model2vec itself, so
    the plugin loads it the way it loads a real one."""
    import numpy as np
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1}
    rows = [np.full(4, 0.0), np.full(4, 0.0)]
    for direction, words in TOPICS.items():
        for offset, word in enumerate(words):
            vocab[word] = len(vocab)
            rows.append(np.asarray(direction) + 0.01 * offset)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "tiny-model"
    StaticModel(np.asarray(rows, dtype=np.float32), tokenizer, normalize=True).save_pretrained(folder)
    return folder
