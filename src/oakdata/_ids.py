"""Message ids (UUIDv7) and RFC 3339 timestamps, cheap enough for every capture.

Ids follow RFC 9562's UUIDv7 with a dedicated counter (its "method 1"): 48 bits of Unix
milliseconds, a 12-bit counter in rand_a, and 62 random bits in rand_b, drawn afresh each
millisecond. The counter comes from itertools.count, whose next() is atomic, so threads
never share a value; within one millisecond ids are unique while fewer than 4096 are made,
far more than a process captures. Both caches below are tuples, replaced whole, so a
thread reads either the old or the new one, never a mix.
"""

from __future__ import annotations

import itertools
import os
import time

_counter = itertools.count()

_VARIANT_BITS = 0b10 << 62
# The 12-bit counter's three hex digits, looked up rather than formatted (4x cheaper).
_HEX3 = tuple(f"{n:03x}" for n in range(4096))

# (millisecond, "xxxxxxxx-xxxx-7", "-vxxx-xxxxxxxxxxxx") for the current millisecond.
_last_millisecond: tuple[int, str, str] = (-1, "", "")
# (whole second, "YYYY-MM-DDTHH:MM:SS") for the last second formatted.
_last_second: tuple[int, str] = (-1, "")


def reseed() -> None:
    """In a forked child: parent and child must never make the same id."""
    global _last_millisecond  # noqa: PLW0603 - the cache above, reset for the child
    _last_millisecond = (-1, "", "")


def new_ids() -> tuple[str, str]:
    """A fresh message uuid and the current RFC 3339 time, from one reading of the clock."""
    now_ns = time.time_ns()
    return uuid7(now_ns), rfc3339(now_ns)


def uuid7(now_ns: int) -> str:
    global _last_millisecond  # noqa: PLW0603
    millisecond = now_ns // 1_000_000
    cached, head, tail = _last_millisecond
    if millisecond != cached:
        stamp = f"{millisecond:012x}"
        # os.urandom, not random: an app that calls random.seed(42) must not make every
        # process draw the same "unique" bits. One system call a millisecond at most.
        random_bits = int.from_bytes(os.urandom(8), "big") >> 2
        rand_b = f"{_VARIANT_BITS | random_bits:016x}"
        head = f"{stamp[:8]}-{stamp[8:]}-7"
        tail = f"-{rand_b[:4]}-{rand_b[4:]}"
        _last_millisecond = (millisecond, head, tail)
    return f"{head}{_HEX3[next(_counter) & 0xFFF]}{tail}"


def rfc3339(now_ns: int) -> str:
    """UTC, microseconds, 'Z': the only timestamp form the wire carries."""
    global _last_second  # noqa: PLW0603
    second = now_ns // 1_000_000_000
    cached_second, prefix = _last_second
    if second != cached_second:
        t = time.gmtime(second)
        prefix = (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )
        _last_second = (second, prefix)
    # str() of 1_000_000 + microseconds, less its leading 1: zero-padded, and cheaper
    # than a format spec.
    return f"{prefix}.{str(1_000_000 + now_ns % 1_000_000_000 // 1000)[1:]}Z"
