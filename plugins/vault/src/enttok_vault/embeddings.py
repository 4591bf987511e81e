"""Embeddings from a model2vec static model in a folder on disk.

A static model is a token-embedding table and a tokenizer: a chunk's vector is the mean of
its tokens' vectors, so embedding is a table lookup that runs on any laptop CPU. The model is
read from the configured folder and nowhere else: a path that is not a model folder is an
error, never a download. Loaded models stay in memory for the life of the host.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")

_models: dict[str, Any] = {}
_lock = threading.Lock()


class ModelUnavailable(Exception):
    """The configured folder does not hold a model2vec model."""


def model_key(folder: str) -> str:
    """The model's identity in `vault_vectors`: its folder and its weights file's size and
    mtime, so a model replaced in place is not mixed with vectors of the one before."""
    path = _folder(folder)
    weights = (path / "model.safetensors").stat()
    stamp = hashlib.blake2b(f"{weights.st_size}:{weights.st_mtime_ns}".encode(), digest_size=6).hexdigest()
    return f"{path}#{stamp}"


def embed(folder: str, texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors of `texts`, one row each."""
    import numpy as np

    model = _load(folder)
    if not texts:
        return np.zeros((0, model.dim), dtype=np.float32)
    vectors = np.asarray(model.encode(texts, use_multiprocessing=False, normalize=False), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def _load(folder: str) -> Any:
    key = model_key(folder)
    with _lock:
        if key not in _models:
            from model2vec import StaticModel

            # An existing local folder: model2vec reads it and never looks at a hub.
            _models[key] = StaticModel.from_pretrained(str(_folder(folder)), force_download=False)
        return _models[key]


def _folder(folder: str) -> Path:
    path = Path(folder).expanduser()
    if not path.is_absolute():
        raise ModelUnavailable(f"the embedding model folder must be an absolute path: {folder}")
    path = path.resolve()
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailable(f"{path} is not a model2vec model folder (missing {', '.join(missing)})")
    return path
