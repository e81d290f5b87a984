"""Counters by outcome and drop reason, and the summarised warnings about drops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from . import _log
from ._notify import DropReport

INVALID_INPUT = "invalid_input"
TOO_LARGE = "too_large"
QUEUE_FULL = "queue_full"
AFTER_SHUTDOWN = "after_shutdown"
REJECTED_BY_SERVER = "rejected_by_server"
CLIENT_ERROR = "client_error"
OVERSIZED_FOR_SERVER = "oversized_for_server"
RETRIES_EXHAUSTED = "retries_exhausted"
SHUTDOWN_TIMEOUT = "shutdown_timeout"
BEFORE_SEND = "before_send"  # the app's before_send returned None: its choice
BEFORE_SEND_FAILED = "before_send_failed"  # it raised, or returned no message: its bug

DROP_REASONS = (
    AFTER_SHUTDOWN,
    BEFORE_SEND,
    BEFORE_SEND_FAILED,
    CLIENT_ERROR,
    INVALID_INPUT,
    OVERSIZED_FOR_SERVER,
    QUEUE_FULL,
    REJECTED_BY_SERVER,
    RETRIES_EXHAUSTED,
    SHUTDOWN_TIMEOUT,
    TOO_LARGE,
)

# After the first warning for a reason, further drops for it are reported at most this often.
WARNING_SUMMARY_INTERVAL = 60.0


class Stats:
    """A consistent snapshot, frozen: captured + recovered == delivered + queued + dropped_total.

    recovered is zero without a spool.
    """

    __slots__ = ("captured", "delivered", "dropped", "queued", "recovered", "retried")

    captured: int
    delivered: int
    retried: int
    queued: int
    dropped: Mapping[str, int]
    recovered: int  # events found in the spool at start, left by an earlier process

    def __init__(
        self,
        captured: int,
        delivered: int,
        retried: int,
        queued: int,
        dropped: Mapping[str, int],
        recovered: int = 0,
    ) -> None:
        for name, value in (
            ("captured", captured),
            ("delivered", delivered),
            ("retried", retried),
            ("queued", queued),
            ("dropped", dropped),
            ("recovered", recovered),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise frozen_error(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stats):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> tuple[int, int, int, int, dict[str, int], int]:
        return (
            self.captured,
            self.delivered,
            self.retried,
            self.queued,
            dict(self.dropped),
            self.recovered,
        )

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def __repr__(self) -> str:
        dropped = {reason: count for reason, count in self.dropped.items() if count}
        return (
            f"Stats(captured={self.captured}, delivered={self.delivered}, "
            f"retried={self.retried}, queued={self.queued}, dropped={dropped}"
            + (f", recovered={self.recovered})" if self.recovered else ")")
        )


def frozen_error(instance: object) -> AttributeError:
    """The error a frozen dataclass raises, without importing dataclasses at startup."""
    import dataclasses

    return dataclasses.FrozenInstanceError(f"{type(instance).__name__} is frozen")


class Counters:
    """Thread-safe counters; every snapshot keeps the invariant that Stats states.

    Events that join the queue are not counted here: the queue already counts them under
    its own lock (``accepted``), and a second lock on every capture would cost more than
    the rest of the bookkeeping. "queued" is derived from it.
    """

    def __init__(self, on_drop: Callable[[DropReport], None] | None = None) -> None:
        """on_drop: told of every drop, on the thread that counts it (see _notify)."""
        self._on_drop = on_drop
        # Re-entrant: a signal handler may report while the main thread counts.
        self._lock = threading.RLock()
        self._accepted: Callable[[], int] = int  # until bind_accepted: nothing accepted
        self._recovered = 0
        self._refused = 0  # captured but never queued
        self._delivered = 0
        self._dropped_from_queue = 0
        self._retried = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._drops_seen = 0  # dropped_total at the last drops_since_last_call()
        # Keyed by (reason, topic).
        self._warned_at: dict[tuple[str, str], float] = {}
        self._unreported: dict[tuple[str, str], int] = {}

    def bind_accepted(self, accepted: Callable[[], int]) -> None:
        """Where to read how many events the queue has taken (the queue, never the client:
        the worker holds these counters, and must not keep a dropped client alive)."""
        self._accepted = accepted

    def recovered(self, count: int) -> None:
        """Events a spool handed over at start: queued, but not captured by this client."""
        with self._lock:
            self._recovered += count

    def captured_and_dropped(self, reason: str, detail: str) -> None:
        """An event refused before it joined the queue."""
        with self._lock:
            self._refused += 1
            self._dropped[reason] += 1
        self._report(reason, 1, detail, None)

    def delivered(self, count: int) -> None:
        with self._lock:
            self._delivered += count

    def dropped(self, reason: str, count: int, detail: str, status: int | None = None) -> None:
        """Events that had been queued and will now never be sent; status, the HTTP status
        that decided it, if any."""
        with self._lock:
            self._dropped_from_queue += count
            self._dropped[reason] += count
        self._report(reason, count, detail, status)

    def drops_since_last_call(self) -> int:
        """Events dropped, for any reason, since the previous call: flush() and shutdown()
        say True only when nothing captured since the previous one returned was lost."""
        with self._lock:
            total = sum(self._dropped.values())
            lost, self._drops_seen = total - self._drops_seen, total
        return lost

    def retried(self) -> None:
        with self._lock:
            self._retried += 1

    def snapshot(self) -> Stats:
        with self._lock:
            # Read after the outcomes, under their lock: everything delivered or dropped
            # had been accepted before, so "queued" never comes out negative.
            accepted = self._accepted()
            return Stats(
                captured=accepted - self._recovered + self._refused,
                delivered=self._delivered,
                retried=self._retried,
                queued=accepted - self._delivered - self._dropped_from_queue,
                dropped=MappingProxyType(dict(self._dropped)),
                recovered=self._recovered,
            )

    def _report(self, reason: str, count: int, detail: str, status: int | None) -> None:
        # A 401 and then a 422 are two problems, each worth its own first line.
        self._warn(reason, count, detail, "" if status is None else str(status))
        if self._on_drop is not None:
            self._on_drop(DropReport(reason, count, status, detail))

    def _warn(self, reason: str, count: int, detail: str, topic: str) -> None:
        # One line the first time, then one summary per interval: a flood of bad events
        # must not become a flood of log lines.
        now = time.monotonic()
        with self._lock:
            key = (reason, topic)
            last = self._warned_at.get(key)
            if last is not None and now - last < WARNING_SUMMARY_INTERVAL:
                self._unreported[key] = self._unreported.get(key, 0) + count
                return
            self._warned_at[key] = now
            earlier = self._unreported.pop(key, 0)
        noun = "event" if count == 1 else "events"
        # A refused key or URL loses every event until someone fixes the configuration:
        # an error, where other drops are the warnings of a system that mostly works.
        log = _log.error if reason == CLIENT_ERROR else _log.warning
        if earlier:
            log(
                "oakdata dropped %d %s (%s): %s; %d more dropped for this reason since then",
                count,
                noun,
                reason,
                detail,
                earlier,
            )
        else:
            log("oakdata dropped %d %s (%s): %s", count, noun, reason, detail)

    def report_unreported(self) -> None:
        """At shutdown: say what the summarising swallowed, so nothing goes unmentioned."""
        with self._lock:
            pending = self._unreported
            self._unreported = {}
        for (reason, _topic), count in sorted(pending.items()):
            _log.warning("oakdata dropped %d more events (%s) since the last report", count, reason)
