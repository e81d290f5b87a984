"""Server settings: one frozen object, validated once, the environment read in one function."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DB_PATH = "./oakdata.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_BATCH_MESSAGES = 1000
# Requests per second per key; a well-behaved SDK sends a request per 20 events or per 10 s,
# so 100/s with a burst of 200 only stops runaway loops.
DEFAULT_RATE_LIMIT_PER_SECOND = 100.0
DEFAULT_RATE_LIMIT_BURST = 200


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Sizes are bytes, rates per second."""

    db_path: str = DEFAULT_DB_PATH
    admin_token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    max_batch_messages: int = DEFAULT_MAX_BATCH_MESSAGES
    rate_limit_per_second: float = DEFAULT_RATE_LIMIT_PER_SECOND  # 0 disables rate limiting
    rate_limit_burst: int = DEFAULT_RATE_LIMIT_BURST

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1.")
        # The protocol promises every server accepts 1 MiB decompressed and 1000 messages.
        if self.max_decompressed_bytes < 1024 * 1024:
            raise ValueError("max_decompressed_bytes must be at least 1 MiB (1048576).")
        if self.max_batch_messages < 1000:
            raise ValueError("max_batch_messages must be at least 1000.")
        if self.rate_limit_per_second < 0:
            raise ValueError("rate_limit_per_second must not be negative.")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be at least 1.")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ValueError("admin_token must be at least 16 characters.")

    def __repr__(self) -> str:
        # The admin token is a secret: never let it reach a log line or a traceback.
        token = "set" if self.admin_token else "unset"
        return f"Settings(db_path={self.db_path!r}, admin_token={token})"


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from OAK_SERVER_* variables, then explicit overrides (None means 'not given')."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    conversions: dict[str, type] = {
        "db_path": str,
        "admin_token": str,
        "max_body_bytes": int,
        "max_decompressed_bytes": int,
        "max_batch_messages": int,
        "rate_limit_per_second": float,
        "rate_limit_burst": int,
    }
    for name, convert in conversions.items():
        raw = env.get(f"OAK_SERVER_{name.upper()}")
        if raw:
            try:
                values[name] = convert(raw)
            except ValueError:
                message = f"OAK_SERVER_{name.upper()} must be a {convert.__name__}."
                raise ValueError(message) from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
