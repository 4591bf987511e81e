"""The host's start-up configuration, read once from the environment (see docs/api.md)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

APP_NAME = "enttok"


class ConfigError(ValueError):
    """An environment variable holds something the host cannot use; the message names it."""


@dataclass(frozen=True)
class RuntimeConfig:
    port: int
    token: str = field(repr=False)
    token_generated: bool
    data_dir: Path
    log_dir: Path
    run_env: str
    allowed_origins: frozenset[str]
    secret_key: str | None = field(default=None, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "data" / "index.db"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeConfig:
        env = dict(os.environ if environ is None else environ)
        raw_port = env.get("BACKEND_PORT", "0") or "0"
        try:
            port = int(raw_port)
        except ValueError:
            raise ConfigError(f"BACKEND_PORT must be a port number, not {raw_port!r}") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"BACKEND_PORT must be between 0 and 65535, not {port}")
        token = env.get("BACKEND_TOKEN") or ""
        generated = not token
        if generated:
            token = secrets.token_hex(32)
        elif len(token) < 16:
            raise ConfigError("BACKEND_TOKEN must be at least 16 characters")
        data_dir = Path(env.get("APP_DATA_DIR") or _default_data_dir())
        log_dir = Path(env.get("LOG_DIR") or data_dir / "logs")
        run_env = env.get("RUN_ENV", "prod") or "prod"
        if run_env not in ("dev", "prod"):
            raise ConfigError(f"RUN_ENV must be dev or prod, not {run_env!r}")
        origins = frozenset(o.strip() for o in env.get("BACKEND_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            port=port,
            token=token,
            token_generated=generated,
            data_dir=data_dir.expanduser().resolve(),
            log_dir=log_dir.expanduser().resolve(),
            run_env=run_env,
            allowed_origins=origins,
            secret_key=env.get("BACKEND_SECRET_KEY") or None,
            environ=env,
        )


def _default_data_dir() -> str:
    import platformdirs  # only when APP_DATA_DIR is unset: the app always sets it

    return platformdirs.user_data_dir(APP_NAME, appauthor=False)
