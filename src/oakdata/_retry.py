"""When to try a failed batch again: a pure policy, no sleeping here."""

from __future__ import annotations

import os
from collections.abc import Callable

MAX_DELAY = 30.0


def _uniform() -> float:
    """A float in [0, 1) from os.urandom, sparing the import of random for jitter."""
    return int.from_bytes(os.urandom(7), "big") / (1 << 56)


def backoff_delay(
    retry_number: int, initial_delay: float, rand: Callable[[], float] = _uniform
) -> float:
    """Exponential back-off with jitter over the upper half of the step, capped.

    retry_number counts from 1. Jitter keeps a fleet of workers from retrying in lockstep
    after an outage; keeping half the step fixed keeps the back-off from collapsing to zero.
    """
    step = min(MAX_DELAY, initial_delay * 2.0 ** min(retry_number - 1, 32))
    return step / 2 + rand() * step / 2


def retry_after_delay(header: str | None, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (seconds or HTTP date), capped; None if absent."""
    if not header:
        return None
    value = header.strip()
    # ASCII only: str.isdigit() also accepts digits such as "²" that float() refuses.
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_DELAY)
    from email.utils import parsedate_to_datetime  # only paid for on a 429 with a date

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_DELAY)
