"""Message ids (UUIDv7) and RFC 3339 timestamps, made without importing uuid or datetime."""

from __future__ import annotations

import os
import random
import time

# Our own generator: an app that calls random.seed(42) for reproducible runs must not make
# every process produce the same "unique" ids. Reseeded in each forked child (see reseed).
_random = random.Random(os.urandom(32))

_RAND_B_MASK = (1 << 62) - 1
_VARIANT_BITS = 0b10 << 62
_VERSION_BITS = 0x7000

# (whole second, "YYYY-MM-DDTHH:MM:SS") for the last second formatted: most events of a
# busy process share it, and a tuple is swapped atomically between threads.
_last_second: tuple[int, str] = (-1, "")


def reseed() -> None:
    """Give a forked child its own id stream; parent and child must never share ids."""
    _random.seed(os.urandom(32))


def uuid7(now_ns: int) -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then 74 random bits."""
    bits = _random.getrandbits(74)
    high = ((now_ns // 1_000_000) << 16) | _VERSION_BITS | (bits >> 62)
    low = _VARIANT_BITS | (bits & _RAND_B_MASK)
    h = f"{high:016x}{low:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rfc3339(now_ns: int) -> str:
    """UTC, microseconds, 'Z': the only timestamp form the wire carries."""
    global _last_second  # noqa: PLW0603 - a one-entry cache, see above
    second, nanos = divmod(now_ns, 1_000_000_000)
    cached_second, prefix = _last_second
    if second != cached_second:
        t = time.gmtime(second)
        prefix = (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )
        _last_second = (second, prefix)
    return f"{prefix}.{nanos // 1000:06d}Z"
