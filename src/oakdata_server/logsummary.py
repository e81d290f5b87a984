"""Counting repeated events and logging them as one summary line per interval.

A hostile client can make the server refuse thousands of things a second; one log line for
each (let alone a traceback) fills the disk and buries everything else. So refusals are
counted by reason, and at most one line per SUMMARY_INTERVAL_SECONDS says how many of each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

SUMMARY_INTERVAL_SECONDS = 10.0


class SummaryLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = SUMMARY_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._pending: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self._last = -interval
        self._lock = threading.Lock()

    def note(self, reason: str, count: int = 1) -> None:
        """Count `count` events of `reason`; log the pending counts if the interval is over."""
        with self._lock:
            self._pending[reason] += count
            self.totals[reason] += count
            now = self._clock()
            if now - self._last < self._interval:
                return
            self._last = now
            pending, self._pending = self._pending, Counter()
        summary = ", ".join(f"{reason}: {n}" for reason, n in sorted(pending.items()))
        self._logger.warning("refused since the last summary: %s", summary)
