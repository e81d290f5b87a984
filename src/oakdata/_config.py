"""Client options: one frozen object, validated once, with the environment read in one place."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ._stats import frozen_error

DEFAULT_HOST = "https://oakdata.co"
DEFAULT_INGEST_PATH = "/api/oak/ingest"
DEFAULT_FLUSH_AT = 20
DEFAULT_FLUSH_INTERVAL = 10.0
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3
# With the default 3 retries, the waits are 1-2, 2-4 and 4-8 s: a server restarted or
# redeployed within 7 s loses nothing (posthog waits 1 + 2 + 4 s).
DEFAULT_RETRY_INITIAL_DELAY = 2.0
DEFAULT_MAX_QUEUE_SIZE = 10_000
DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
MIN_SPOOL_MAX_BYTES = 1024 * 1024

SECRET_KEY_ENV = "OAK_SECRET_KEY"
HOST_ENV = "OAK_HOST"

SECRET_KEY_PREFIX = "oak_sec_"
PUBLIC_KEY_PREFIX = "oak_pub_"


class Config:
    """Everything a client needs to know, checked at construction so later calls never fail.

    Frozen: set once in __init__. (A slotted class rather than a dataclass: dataclasses
    imports inspect, which costs serverless cold starts several milliseconds.)
    """

    __slots__ = (
        "debug",
        "disabled",
        "flush_at",
        "flush_interval",
        "gzip",
        "host",
        "ingest_path",
        "max_queue_size",
        "max_retries",
        "request_timeout",
        "retry_initial_delay",
        "secret_key",
        "spool_max_bytes",
        "spool_path",
    )

    secret_key: str
    host: str
    ingest_path: str
    flush_at: int
    flush_interval: float
    request_timeout: float
    max_retries: int
    retry_initial_delay: float
    max_queue_size: int
    disabled: bool
    debug: bool
    gzip: bool
    spool_path: str | None
    spool_max_bytes: int

    def __init__(
        self,
        secret_key: str,
        host: str = DEFAULT_HOST,
        ingest_path: str = DEFAULT_INGEST_PATH,
        flush_at: int = DEFAULT_FLUSH_AT,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_initial_delay: float = DEFAULT_RETRY_INITIAL_DELAY,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        disabled: bool = False,
        debug: bool = False,
        gzip: bool = True,
        spool_path: str | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
    ) -> None:
        values = locals()
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise frozen_error(self)

    def __repr__(self) -> str:
        # Every option but the key: it must never reach a log line, a traceback or a repr.
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name != "secret_key"
        )
        return f"Config({shown})"

    @property
    def ingest_url(self) -> str:
        return self.host + self.ingest_path


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the process environment supplies; the only place that reads it."""
    env = os.environ if environ is None else environ
    found = {}
    for option, name in (("secret_key", SECRET_KEY_ENV), ("host", HOST_ENV)):
        value = env.get(name, "").strip()
        if value:
            found[option] = value
    return found


def make_config(
    secret_key: object,
    *,
    host: object,
    ingest_path: object,
    flush_at: object,
    flush_interval: object,
    request_timeout: object,
    max_retries: object,
    retry_initial_delay: object,
    max_queue_size: object,
    disabled: object,
    debug: object,
    gzip: object,
    spool_path: object = None,
    spool_max_bytes: object = DEFAULT_SPOOL_MAX_BYTES,
) -> Config:
    """Check the constructor's arguments; a ValueError of one sentence names the first fault."""
    env = environment()
    if secret_key is None:
        secret_key = env.get("secret_key")
    if host is None:
        host = env.get("host", DEFAULT_HOST)
    disabled = _flag("disabled", disabled)
    key = _secret_key(secret_key, disabled=disabled)
    return Config(
        secret_key=key,
        host=_host(host),
        ingest_path=_ingest_path(ingest_path),
        flush_at=_count("flush_at", flush_at, minimum=1),
        flush_interval=_seconds("flush_interval", flush_interval),
        request_timeout=_seconds("request_timeout", request_timeout, zero_allowed=False),
        max_retries=_count("max_retries", max_retries, minimum=0),
        retry_initial_delay=_seconds("retry_initial_delay", retry_initial_delay),
        max_queue_size=_count("max_queue_size", max_queue_size, minimum=1),
        disabled=disabled,
        debug=_flag("debug", debug),
        gzip=_flag("gzip", gzip),
        spool_path=_spool_path(spool_path),
        spool_max_bytes=_count("spool_max_bytes", spool_max_bytes, minimum=MIN_SPOOL_MAX_BYTES),
    )


def _secret_key(value: object, *, disabled: bool) -> str:
    # The messages below never echo the value: it may be a real secret pasted in the wrong place.
    if value is None or value == "":
        if disabled:
            return ""
        raise ValueError(
            f"No secret key: pass secret_key= or set ${SECRET_KEY_ENV} (or pass disabled=True)."
        )
    if not isinstance(value, str):
        raise ValueError("secret_key must be a string.")
    key = value.strip()
    if key.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(
            "secret_key is a public key (oak_pub_...); "
            "the server SDK needs a secret key (oak_sec_...)."
        )
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise ValueError("secret_key contains spaces or non-printable characters.")
    return key


def _host(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("host must be a string such as 'https://oakdata.co'.")
    host = value.strip().rstrip("/")
    if not _is_http_url(host):
        raise ValueError(f"host must be an http:// or https:// URL, got {_shown(value)}.")
    return host


def _is_http_url(url: str) -> bool:
    """scheme://hostname[:port][/path], with nothing else: no credentials, query or fragment.

    Checked by hand rather than with urllib.parse, which costs milliseconds to import.
    """
    scheme, separator, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not separator:
        return False
    authority = rest.split("/", 1)[0]
    if not authority or any(c in rest for c in "?#@ ") or not rest.isprintable():
        return False
    if authority.startswith("["):  # an IPv6 literal: [::1]:8080
        hostname, bracket, port = authority[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    else:
        hostname, _, port = authority.partition(":")
    if not hostname:
        return False
    return not port or (port.isdigit() and 0 < int(port) < 65536)


def _ingest_path(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c in value for c in "?# "):
        raise ValueError(f"ingest_path must be a path starting with '/', got {_shown(value)}.")
    return value


def _count(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {_shown(value)}.")
    return value


def _seconds(name: str, value: object, *, zero_allowed: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds, got {_shown(value)}.")
    if value < 0 or (value == 0 and not zero_allowed):
        bound = "zero or more" if zero_allowed else "more than zero"
        raise ValueError(f"{name} must be {bound} seconds, got {_shown(value)}.")
    return float(value)


def _spool_path(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"spool_path must be a directory path, got {_shown(value)}.")
    return os.path.abspath(value)


def _shown(value: object) -> str:
    """The rejected value for an error message, unless it could be a secret.

    Arguments get swapped (the key passed as host) and keys get pasted into the wrong
    option; an exception message ends up in logs and error trackers, so a value that
    looks like a key, or a URL's credentials, is never repeated.
    """
    text = repr(value)
    if SECRET_KEY_PREFIX in text or PUBLIC_KEY_PREFIX in text:
        return "a value that looks like a key (not shown)"
    if "@" in text:
        return "a value with credentials in it (not shown)"
    return text if len(text) <= 80 else text[:77] + "..."


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {_shown(value)}.")
    return value
