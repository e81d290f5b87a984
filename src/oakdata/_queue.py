"""The queue's bookkeeping, shared by the thread worker and the asyncio worker.

Plain state, no locking and no waiting: each worker guards it with its own lock and waits
its own way. Items resolve in the order they were put, one batch at a time, which is what
lets a flush know it is done: everything put before it has resolved.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._spool import Spool

# Items are the bytes of encoded messages, but nothing here looks inside them.
TakeBatch = Callable[[deque[bytes]], list[bytes]]


class QueueUnavailable(Exception):
    """The queue cannot take items any more: its sender cannot be started (the
    interpreter is shutting down)."""


class FlushWaiter:
    __slots__ = ("failed", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.failed = False


class Batch:
    """Items handed to the sender, with the sequence number of the first one."""

    __slots__ = ("first_sequence", "items")

    def __init__(self, items: list[bytes], first_sequence: int) -> None:
        self.items = items
        self.first_sequence = first_sequence


# Seconds of shutdown's timeout (a fifth of it at most) kept back from the flush: if the
# flush runs out, the senders cut their back-off short and count what they give up on
# before shutdown returns, rather than after.
SHUTDOWN_RESERVE = 0.1


class ShutdownBudget:
    """How shutdown(timeout) spends its time, the same in both workers: flushing until
    flush_deadline, then stopping the senders until deadline (monotonic seconds; None: no
    limit)."""

    __slots__ = ("deadline", "flush_deadline")

    def __init__(self, timeout: float | None, now: float) -> None:
        self.deadline: float | None = None
        self.flush_deadline: float | None = None
        if timeout is not None:
            self.deadline = now + timeout
            self.flush_deadline = self.deadline - min(SHUTDOWN_RESERVE, timeout / 5)

    def flush_timeout(self, now: float) -> float | None:
        return None if self.flush_deadline is None else max(0.0, self.flush_deadline - now)

    def stop_timeout(self, now: float) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - now)


class QueueSettings:
    """What a worker needs to make its queue state, and to make it again in a forked child."""

    __slots__ = ("flush_at", "flush_interval", "max_items", "spool", "take")

    def __init__(
        self,
        *,
        take: TakeBatch,
        flush_at: int,
        flush_interval: float,
        max_items: int,
        spool: Spool | None = None,
    ) -> None:
        self.take = take
        self.flush_at = flush_at
        self.flush_interval = flush_interval
        self.max_items = max_items
        self.spool = spool

    def for_child(self) -> QueueSettings:
        """In a forked child: the same settings, and a spool segment of the child's own."""
        import copy  # only forked children pay for it

        child = copy.copy(self)
        if self.spool is not None:
            child.spool = self.spool.for_child()
        return child

    def close_spool(self) -> None:
        if self.spool is not None:
            self.spool.close()


class QueueState:
    """With a spool, the items in memory are the head of the spool: records beyond
    max_items wait on disk ("unloaded") and are read in as the queue drains."""

    def __init__(self, settings: QueueSettings) -> None:
        self._settings = settings
        self._spool = spool = settings.spool
        self.items: deque[bytes] = deque()
        # Items ever put; an item's sequence number is its put_count. Events recovered from
        # the spool come first.
        self.put_count = spool.recovered if spool is not None else 0
        self.taken_count = 0  # items handed to the sender
        self.resolved_count = 0  # items whose batch came back delivered or dropped
        self.flush_target = self.put_count  # send everything up to this sequence number now
        self.oldest_put_at = 0.0
        self.stopping = False
        self.waiters: list[FlushWaiter] = []
        # First sequence numbers of the batches handed out and not back yet. With several
        # senders they come back out of order; resolved_count only counts the prefix of
        # the queue that is entirely back, which is what flushes and the spool's acks need.
        self.in_flight: set[int] = set()
        self._acks_stopped = False

    def waiting(self) -> int:
        """Items not yet handed to the sender, in memory or on disk."""
        return len(self.items) + (self._spool.unloaded if self._spool is not None else 0)

    def put(self, item: bytes) -> bool | None:
        """Append unless full (None). True when the sender should be woken now."""
        items = self.items
        spool = self._spool
        if spool is not None:
            return self._put_spooled(spool, item)
        if len(items) >= self._settings.max_items:
            return None
        if not items:
            # Read only here: most puts join a non-empty queue and need no clock.
            self.oldest_put_at = time.monotonic()
        items.append(item)
        self.put_count += 1
        return len(items) >= self._settings.flush_at

    def _put_spooled(self, spool: Spool, item: bytes) -> bool | None:
        in_memory = len(self.items) < self._settings.max_items and not spool.unloaded
        if not spool.append(item, loaded=in_memory):
            return None
        if in_memory:
            if not self.items:
                self.oldest_put_at = time.monotonic()
            self.items.append(item)
        self.put_count += 1
        return self.waiting() >= self._settings.flush_at

    def has_room(self, size: int) -> bool:
        """Whether put() would take an item of size bytes now."""
        if self._spool is not None:
            return self._spool.has_room(size)
        return len(self.items) < self._settings.max_items

    def unput(self) -> bool:
        """Take back the item just put (its sender could not be started). Not with a spool:
        the item is on disk already, where the next client will find it."""
        if self._spool is not None:
            return False
        self.items.pop()
        self.put_count -= 1
        return True

    def pending(self) -> int:
        return self.put_count - self.resolved_count

    def request_flush(self) -> FlushWaiter | None:
        """A waiter for everything put so far; None if that is all resolved already."""
        if self.resolved_count >= self.put_count:
            return None
        waiter = FlushWaiter(self.put_count)
        self.waiters.append(waiter)
        self.flush_target = max(self.flush_target, waiter.target)
        return waiter

    def is_done(self, waiter: FlushWaiter) -> bool:
        return self.resolved_count >= waiter.target

    def finished(self) -> bool:
        """Stopping, and nothing left to send."""
        return self.stopping and not self.waiting()

    def next_batch(self, now: float) -> tuple[Batch | None, float | None]:
        """(a batch that is due, None) or (None, seconds to wait; None = until woken)."""
        spool = self._spool
        if spool is not None and spool.unloaded and len(self.items) < self._settings.max_items:
            if not self.items:
                self.oldest_put_at = now
            self.items.extend(spool.load(self._settings.max_items - len(self.items)))
        if not self.items:
            return None, None
        due_at = self.oldest_put_at + self._settings.flush_interval
        if (
            self.stopping
            or self.flush_target > self.taken_count
            or self.waiting() >= self._settings.flush_at
            or (self._settings.flush_interval > 0 and now >= due_at)
        ):
            batch = Batch(self._settings.take(self.items), self.taken_count + 1)
            self.taken_count += len(batch.items)
            self.in_flight.add(batch.first_sequence)
            # What remains has waited at most as long; treat it as just arrived, which is
            # at worst one interval late and only under a backlog that flushes anyway.
            self.oldest_put_at = now
            return batch, None
        return None, (due_at - now if self._settings.flush_interval > 0 else None)

    def resolved(self, batch: Batch, failed: int, *, abandoned: bool = False) -> None:
        """A batch came back. abandoned: shutdown gave up on it, so a spool keeps it."""
        self.in_flight.remove(batch.first_sequence)
        if abandoned:
            self._acks_stopped = True  # acks are a prefix: nothing after it is acked either
        self._advance_resolved()
        if failed:
            for waiter in self.waiters:
                if waiter.target >= batch.first_sequence:
                    waiter.failed = True

    def _advance_resolved(self) -> None:
        previous = self.resolved_count
        self.resolved_count = min(self.in_flight) - 1 if self.in_flight else self.taken_count
        if self._spool is not None and not self._acks_stopped:
            self._spool.acknowledge(self.resolved_count - previous)

    def requeue(self, batch: Batch) -> None:
        """Put back the batch last taken, unsent, at the front (its only sender was
        cancelled)."""
        self.in_flight.remove(batch.first_sequence)
        self.items.extendleft(reversed(batch.items))
        self.taken_count -= len(batch.items)

    def discard_waiting(self) -> int:
        """Give up on everything not yet handed to the sender; how many that was.

        With a spool they stay on disk, unacknowledged, for the next client to send."""
        left = self.waiting()
        self.items.clear()
        if self._spool is not None:
            self._spool.unloaded = 0
            self._acks_stopped = True
        self.taken_count += left
        self._advance_resolved()
        for waiter in self.waiters:
            if left and waiter.target > self.taken_count - left:
                waiter.failed = True
        return left
