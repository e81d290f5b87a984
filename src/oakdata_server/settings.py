"""Server settings: one frozen object, validated once, the environment read in one function."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DATABASE_URL_ENV = "OAK_SERVER_DATABASE_URL"
DEFAULT_DB_PATH = "./oakdata.db"  # a path, or a URL open_storage knows: sqlite:///oakdata.db
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_BATCH_MESSAGES = 1000
# Requests per second per key; a well-behaved SDK sends a request per 20 events or per 10 s,
# so 100/s with a burst of 200 only stops runaway loops.
DEFAULT_RATE_LIMIT_PER_SECOND = 100.0
DEFAULT_RATE_LIMIT_BURST = 200
# Events and request bytes per second per key: about what one server stores (bench/ingest.py
# measures 15,000 to 20,000 events/s in large batches), so one key cannot take all of it.
DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND = 5000.0
DEFAULT_RATE_LIMIT_BYTES_PER_SECOND = 5.0 * 1024 * 1024
# A client has this long to send a request's headers, then this long for its body; a
# half-sent request holds a connection, so without these a few hundred of them stop the server.
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0
# Connections open at once; more are answered 503 and closed at once. Kept well under the
# usual 1024 file descriptors a process may hold (the server also needs some for SQLite).
DEFAULT_MAX_CONNECTIONS = 800
# Failed console sign-ins per minute, from one client address and in all: a person mistyping
# the token is not stopped, a guesser gets 43,200 tries a day at most (docs/server.md).
DEFAULT_SIGN_IN_FAILURES_PER_MINUTE = 5
DEFAULT_SIGN_IN_FAILURES_PER_MINUTE_TOTAL = 30


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
    rate_limit_events_per_second: float = DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND  # 0: off
    rate_limit_bytes_per_second: float = DEFAULT_RATE_LIMIT_BYTES_PER_SECOND  # 0: off
    # True: a 2xx means the events survive power loss (synchronous=FULL). False: they survive
    # the process dying but maybe not the machine, for a faster ingest (docs/server.md).
    durable: bool = True
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    sign_in_failures_per_minute: int = DEFAULT_SIGN_IN_FAILURES_PER_MINUTE  # 0: off
    sign_in_failures_per_minute_total: int = DEFAULT_SIGN_IN_FAILURES_PER_MINUTE_TOTAL  # 0: off

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1.")
        # The protocol promises every server accepts 1 MiB decompressed and 1000 messages.
        if self.max_decompressed_bytes < 1024 * 1024:
            raise ValueError("max_decompressed_bytes must be at least 1 MiB (1048576).")
        if self.max_batch_messages < 1000:
            raise ValueError("max_batch_messages must be at least 1000.")
        if (
            min(
                self.rate_limit_per_second,
                self.rate_limit_events_per_second,
                self.rate_limit_bytes_per_second,
            )
            < 0
        ):
            raise ValueError("rate limits must not be negative.")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be at least 1.")
        if self.header_timeout_seconds <= 0 or self.body_timeout_seconds <= 0:
            raise ValueError("header_timeout_seconds and body_timeout_seconds must be positive.")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1.")
        if min(self.sign_in_failures_per_minute, self.sign_in_failures_per_minute_total) < 0:
            raise ValueError("sign-in limits must not be negative.")
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
    conversions: dict[str, Callable[[str], object]] = {
        "db_path": str,
        "admin_token": str,
        "max_body_bytes": int,
        "max_decompressed_bytes": int,
        "max_batch_messages": int,
        "rate_limit_per_second": float,
        "rate_limit_burst": int,
        "rate_limit_events_per_second": float,
        "rate_limit_bytes_per_second": float,
        "durable": _boolean,
        "header_timeout_seconds": float,
        "body_timeout_seconds": float,
        "max_connections": int,
        "sign_in_failures_per_minute": int,
        "sign_in_failures_per_minute_total": int,
    }
    for name, convert in conversions.items():
        raw = env.get(f"OAK_SERVER_{name.upper()}")
        if raw:
            try:
                values[name] = convert(raw)
            except ValueError:
                kind = getattr(convert, "__name__", "value").strip("_")
                message = f"OAK_SERVER_{name.upper()} must be a {kind}."
                raise ValueError(message) from None
    # The name that says a URL (postgresql://...) wins over the older one that says a path.
    if env.get(DATABASE_URL_ENV):
        values["db_path"] = env[DATABASE_URL_ENV]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
