"""Message ids (UUIDv7) and RFC 3339 timestamps, cheap enough for every capture.

Ids follow RFC 9562's UUIDv7 with a dedicated counter (its "method 1"): 48 bits of Unix
milliseconds, a 12-bit counter in rand_a, and 62 random bits in rand_b, drawn afresh each
millisecond. The counter is an itertools.cycle over its 4096 hex forms, whose next() is
atomic, so threads never share a value; within one millisecond ids are unique while fewer
than 4096 are made, far more than a process captures.

Everything that depends only on the millisecond (the id around its counter, the timestamp
down to the millisecond) is formatted once per millisecond and cached; a capture then
joins three strings for each. The caches are tuples, replaced whole, so a thread reads
either the old or the new one, never a mix. Entering a millisecond must stay cheap too:
with captures some microseconds apart it happens on about one capture in a hundred,
which is exactly where capture()'s p99 is read. So the date and time of day are
formatted once a second, and the random bits come from a pool drawn 64 at a time.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from time import time_ns

_VARIANT_BITS = 0b10 << 62
# Looked up rather than formatted: four times cheaper than a format spec. Built from
# itertools.product, in lexical (so numeric) order: a fifth of the import time of
# formatting each entry.
_HEX3 = tuple(map("".join, itertools.product("0123456789abcdef", repeat=3)))  # the counter
_DIGITS3 = tuple(map("".join, itertools.product("0123456789", repeat=3)))  # microseconds

# The 12-bit counter, already formatted: "000", "001", ... "fff", "000", ...
_counter = itertools.cycle(_HEX3)

RANDOM_POOL_SIZE = 64

# (millisecond, "xxxxxxxx-xxxx-7", "-vxxx-xxxxxxxxxxxx", "YYYY-MM-DDTHH:MM:SS.mmm")
_Millisecond = tuple[int, str, str, str]
_current: _Millisecond = (-1, "", "", "")
# (whole second, "YYYY-MM-DDTHH:MM:SS")
_second: tuple[int, str] = (-1, "")
# Id tails (rand_b) not used yet; next() on a list iterator is atomic, so no two threads
# take the same one.
_random_pool: Iterator[str] = iter(())


def reseed() -> None:
    """In a forked child: parent and child must never make the same id."""
    global _current, _random_pool  # noqa: PLW0603 - the caches above, reset for the child
    _current = (-1, "", "", "")
    _random_pool = iter(())


def new_ids() -> tuple[str, str]:
    """A fresh message uuid and the current RFC 3339 time, from one reading of the clock."""
    now_ns = time_ns()
    current = _current
    if now_ns // 1_000_000 != current[0]:
        current = _enter_millisecond(now_ns // 1_000_000)
    _, head, tail, stamp = current
    return (
        f"{head}{next(_counter)}{tail}",
        f"{stamp}{_DIGITS3[now_ns // 1000 % 1000]}Z",
    )


def _enter_millisecond(millisecond: int) -> _Millisecond:
    global _current, _second  # noqa: PLW0603
    second, date_time = _second
    if millisecond // 1000 != second:
        second = millisecond // 1000
        date_time = _utc_second(second)
        _second = (second, date_time)
    head = f"{millisecond >> 16:08x}-{millisecond & 0xFFFF:04x}-7"
    stamp = f"{date_time}.{_DIGITS3[millisecond % 1000]}"
    _current = (millisecond, head, _random_tail(), stamp)
    return _current


def _random_tail() -> str:
    """'-vxxx-xxxxxxxxxxxx': the variant and 62 random bits, as the id ends."""
    global _random_pool  # noqa: PLW0603
    tail = next(_random_pool, None)
    if tail is None:
        # os.urandom, not random: an app that calls random.seed(42) must not make every
        # process draw the same "unique" bits.
        drawn = os.urandom(8 * RANDOM_POOL_SIZE)
        tails = []
        for i in range(0, len(drawn), 8):
            rand_b = f"{_VARIANT_BITS | int.from_bytes(drawn[i : i + 8], 'big') >> 2:016x}"
            tails.append(f"-{rand_b[:4]}-{rand_b[4:]}")
        tail = tails.pop()
        _random_pool = iter(tails)
    return tail


def rfc3339(now_ns: int) -> str:
    """UTC, microseconds, 'Z': the only timestamp form the wire carries."""
    microseconds = now_ns // 1000 % 1_000_000
    return f"{_utc_second(now_ns // 1_000_000_000)}.{microseconds:06d}Z"


def _utc_second(second: int) -> str:
    t = time.gmtime(second)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
