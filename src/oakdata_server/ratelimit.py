"""Token buckets per key, in memory: the limit protects this process, so it lives with it.

Three budgets per key: requests, events and request bytes. Requests alone are not enough:
100 requests a second of 1,000 events each is far more than one server stores. Each key has
its own buckets, so a flood on the shared public key (anyone who opens the web page has it)
spends that key's budget and never the back end's secret key's.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# Each budget may be spent this many seconds ahead: the SDK's bursts (a flush at shutdown,
# a retry after an outage) pass, a sustained flood does not.
BURST_SECONDS = 4.0


class RateLimiter:
    """`rate` tokens per second, at most `burst` stored."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, key_id: str, amount: float = 1.0) -> float:
        """Take `amount` tokens; 0.0 when allowed, else the seconds until they are there.

        An amount above `burst` is allowed once the bucket is full and leaves it in debt, so
        one legitimate large request is never refused for ever, and the next ones wait.
        """
        if self._rate <= 0:
            return 0.0
        needed = min(amount, self._burst)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= needed:
                self._buckets[key_id] = (tokens - amount, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (needed - tokens) / self._rate


class KeyLimits:
    """The three budgets of every key, named by what they count."""

    def __init__(
        self,
        requests_per_second: float,
        request_burst: int,
        events_per_second: float,
        bytes_per_second: float,
        min_event_burst: int,
        min_byte_burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A request rate of 0 turns every limit off, as it always has (tests, benchmarks).
        off = requests_per_second <= 0
        self.requests = RateLimiter(requests_per_second, request_burst, clock)
        self.events = RateLimiter(
            0 if off else events_per_second,
            max(events_per_second * BURST_SECONDS, min_event_burst),
            clock,
        )
        self.bytes = RateLimiter(
            0 if off else bytes_per_second,
            max(bytes_per_second * BURST_SECONDS, min_byte_burst),
            clock,
        )


def retry_after_header(wait_seconds: float) -> str:
    # Retry-After is whole seconds; rounding up keeps a client that obeys it from being refused.
    return str(max(1, math.ceil(wait_seconds)))
