"""Client options: declared once, each checked by its own rule, frozen after.

``Config``'s class body is the one declaration: each option's name, type, rule and default.
The public constructors (``BaseClient.__init__``) repeat the names as keyword parameters,
because that is what IDEs and type checkers read; they pass them on unread, and everything
after them reads a Config. tests/sdk/test_config.py keeps the two in step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ._stats import frozen_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from ._hooks import BeforeSend
    from ._notify import DropReport

    T = TypeVar("T")
    # rule(option name, value as given) -> the value to keep; a ValueError of one sentence
    # names what is wrong, never echoing what could be a secret (see _shown).
    Rule = Callable[[str, object], T]

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
DEFAULT_BLOCK_TIMEOUT = 10.0
QUEUE_FULL_POLICIES = ("drop", "block")
MIN_SPOOL_MAX_BYTES = 1024 * 1024

SECRET_KEY_ENV = "OAK_SECRET_KEY"
HOST_ENV = "OAK_HOST"

SECRET_KEY_PREFIX = "oak_sec_"
PUBLIC_KEY_PREFIX = "oak_pub_"


# -- the rules, one per kind of value ------------------------------------------------------


def _secret_key(name: str, value: object) -> str:
    """The key, or "" for none: whether none is allowed depends on disabled (Config.__init__)."""
    # The messages below never echo the value: it may be a real secret pasted in the wrong place.
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string.")
    key = value.strip()
    if key.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(
            f"{name} is a public key (oak_pub_...); "
            "the server SDK needs a secret key (oak_sec_...)."
        )
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise ValueError(f"{name} contains spaces or non-printable characters.")
    return key


def _http_url(name: str, value: object) -> str:
    if value is None:
        return DEFAULT_HOST  # neither given nor in the environment
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string such as {DEFAULT_HOST!r}.")
    host = value.strip().rstrip("/")
    if not _is_http_url(host):
        raise ValueError(f"{name} must be an http:// or https:// URL, got {_shown(value)}.")
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


def _url_path(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c in value for c in "?# "):
        raise ValueError(f"{name} must be a path starting with '/', got {_shown(value)}.")
    return value


def _whole_number(minimum: int) -> Rule[int]:
    def rule(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"{name} must be an integer of at least {minimum}, got {_shown(value)}."
            )
        return value

    return rule


def _seconds(*, zero_allowed: bool) -> Rule[float]:
    def rule(name: str, value: object) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} must be a number of seconds, got {_shown(value)}.")
        if value < 0 or (value == 0 and not zero_allowed):
            bound = "zero or more" if zero_allowed else "more than zero"
            raise ValueError(f"{name} must be {bound} seconds, got {_shown(value)}.")
        return float(value)

    return rule


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {_shown(value)}.")
    return value


def _callable_or_none(name: str, value: object) -> Any:
    # Any: each option's own annotation says which callable it takes (an app's
    # function cannot be checked against it at run time anyway).
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a function or None, got {_shown(value)}.")
    return value


def _properties_or_none(name: str, value: object) -> dict[str, object]:
    """A snapshot of the mapping given (changing it later changes nothing); {} for None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping of property names to values, or None.")
    return dict(value)


def _queue_full_policy(name: str, value: object) -> str:
    if value not in QUEUE_FULL_POLICIES:
        raise ValueError(f"{name} must be 'drop' or 'block', got {_shown(value)}.")
    return str(value)


def _directory_or_none(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a directory path, got {_shown(value)}.")
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


# -- the declaration ------------------------------------------------------------------------


class _Option:
    """An option of Config, as its class body declares it. Not a descriptor: each instance
    stores its checked values in its own __dict__, which attribute reads find first, so
    reading an option costs what reading a plain attribute costs."""

    __slots__ = ("default", "name", "rule")

    def __init__(self, rule: Rule[object], default: object) -> None:
        self.rule = rule
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


def _option(rule: Rule[T], default: object) -> T:
    # Typed as the option's value, as dataclasses.field is: to type checkers, `flush_at:
    # int = _option(...)` declares an int attribute, and the rule must return an int.
    return _Option(rule, default)  # type: ignore[return-value]


class Config:
    """Everything a client needs to know, checked at construction so later calls never fail.

    Config(**options): each option by its name; one left out takes the default declared
    here. Frozen. (Not a dataclass: dataclasses imports inspect, which costs serverless
    cold starts several milliseconds.)
    """

    # In the order of the constructors' parameters. None for the key or the host means
    # "not given" (make_config looks in the environment first).
    secret_key: str = _option(_secret_key, None)
    host: str = _option(_http_url, None)
    flush_at: int = _option(_whole_number(1), DEFAULT_FLUSH_AT)
    flush_interval: float = _option(_seconds(zero_allowed=True), DEFAULT_FLUSH_INTERVAL)
    request_timeout: float = _option(_seconds(zero_allowed=False), DEFAULT_REQUEST_TIMEOUT)
    max_retries: int = _option(_whole_number(0), DEFAULT_MAX_RETRIES)
    retry_initial_delay: float = _option(_seconds(zero_allowed=True), DEFAULT_RETRY_INITIAL_DELAY)
    disabled: bool = _option(_flag, False)
    debug: bool = _option(_flag, False)
    ingest_path: str = _option(_url_path, DEFAULT_INGEST_PATH)
    max_queue_size: int = _option(_whole_number(1), DEFAULT_MAX_QUEUE_SIZE)
    gzip: bool = _option(_flag, True)
    spool_path: str | None = _option(_directory_or_none, None)
    spool_max_bytes: int = _option(_whole_number(MIN_SPOOL_MAX_BYTES), DEFAULT_SPOOL_MAX_BYTES)
    on_error: Callable[[DropReport], object] | None = _option(_callable_or_none, None)
    on_queue_full: str = _option(_queue_full_policy, "drop")
    block_timeout: float = _option(_seconds(zero_allowed=False), DEFAULT_BLOCK_TIMEOUT)
    before_send: BeforeSend | None = _option(_callable_or_none, None)
    super_properties: dict[str, object] = _option(_properties_or_none, None)

    def __init__(self, **options: object) -> None:
        unknown = options.keys() - OPTION_NAMES
        if unknown:
            raise TypeError(f"Config got unknown options: {', '.join(sorted(unknown))}")
        for option in _OPTIONS:
            value = options.get(option.name, option.default)
            object.__setattr__(self, option.name, option.rule(option.name, value))
        # The one rule that reads two options.
        if not self.secret_key and not self.disabled:
            raise ValueError(
                f"No secret key: pass secret_key= or set ${SECRET_KEY_ENV} (or pass disabled=True)."
            )

    def __setattr__(self, name: str, value: object) -> None:
        raise frozen_error(self)

    def __repr__(self) -> str:
        # Every option but the key: it must never reach a log line, a traceback or a repr.
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in OPTION_NAMES if name != "secret_key"
        )
        return f"Config({shown})"

    @property
    def ingest_url(self) -> str:
        return self.host + self.ingest_path


_OPTIONS: tuple[_Option, ...] = tuple(
    value for value in vars(Config).values() if isinstance(value, _Option)
)
OPTION_NAMES: tuple[str, ...] = tuple(option.name for option in _OPTIONS)


# -- the environment ---------------------------------------------------------------------


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The options the process environment supplies; the only place that reads it."""
    env = os.environ if environ is None else environ
    found = {}
    for option, name in (("secret_key", SECRET_KEY_ENV), ("host", HOST_ENV)):
        value = env.get(name, "").strip()
        if value:
            found[option] = value
    return found


def make_config(arguments: Mapping[str, object]) -> Config:
    """A Config from a constructor's arguments (every option, by name; other names such as
    transport are not options and are left alone). The key and the host come from the
    environment when they were not given."""
    options = {name: arguments[name] for name in OPTION_NAMES}
    for name, value in environment().items():
        if options[name] is None:
            options[name] = value
    return Config(**options)
