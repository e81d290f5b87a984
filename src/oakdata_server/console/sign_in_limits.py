"""Failed console sign-ins, counted in memory per client address and for the whole server.

A long admin token compared in constant time already makes guessing hopeless; the limit
bounds how fast anyone may try, so that stays true of a short token too. Only failures count,
so an admin who signs in is never slowed. While an address is over its limit every attempt is
refused, the right token included: an answer to a guess made then says nothing about it.
The total cap holds against many addresses; its price is that a flood can keep sign-in closed
for everyone (never the API, never a session already signed in) while it lasts.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Addresses remembered at most: the least recently failing one is forgotten past this, so
# memory stays bounded, and the total cap still counts whatever it did.
MAX_ADDRESSES = 10_000


class SignInLimits:
    """At most `per_address` failures per address and `total` in all in any 60 s; 0 is off.

    Not locked: the console's handlers all run on the server's event loop, and between asking
    `wait` and calling `failed` a handler never awaits.
    """

    def __init__(
        self, per_address: int, total: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_address = per_address
        self._clock = clock
        # Failure times, oldest first; only the latest `limit` matter, so each deque keeps that.
        self._total: deque[float] = deque(maxlen=max(total, 1))
        self._total_limit = total
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, address: str) -> float:
        """0.0 when `address` may try now, else the seconds until it may."""
        now = self._clock()
        waits = [_wait(self._total, self._total_limit, now)]
        failures = self._by_address.get(address)
        if failures is not None:
            waits.append(_wait(failures, self._per_address, now))
        return max(waits)

    def failed(self, address: str) -> None:
        now = self._clock()
        self._total.append(now)
        failures = self._by_address.pop(address, None)
        if failures is None:
            failures = deque(maxlen=max(self._per_address, 1))
        failures.append(now)
        self._by_address[address] = failures  # now the most recent
        if len(self._by_address) > MAX_ADDRESSES:
            self._by_address.popitem(last=False)

    def __len__(self) -> int:
        """Addresses remembered."""
        return len(self._by_address)


def _wait(failures: deque[float], limit: int, now: float) -> float:
    if limit <= 0 or len(failures) < limit:
        return 0.0
    # The deque holds the latest `limit` failures: a try is allowed once the oldest is a
    # window old.
    return max(0.0, failures[0] + WINDOW_SECONDS - now)
