"""The background thread and its queue; it knows nothing of events or HTTP.

Items are opaque. The worker wakes when enough are waiting, when the oldest has waited
flush_interval seconds, or when asked to flush; it hands batches to ``send`` one at a time,
in order, so items resolve in the order they were put. That order is what lets ``flush``
know it is done: it waits until everything put before the call has resolved.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

logger = logging.getLogger("oakdata")

# send(batch, abort) -> how many items of the batch were not delivered. It must return
# promptly once abort is set.
SendBatch = Callable[[list[T], threading.Event], int]
TakeBatch = Callable[[deque[T]], list[T]]
Discard = Callable[[int], None]


class WorkerUnavailable(Exception):
    """The thread could not be started (the interpreter is shutting down)."""


class _FlushWaiter:
    __slots__ = ("failed", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.failed = False


class Worker(Generic[T]):
    def __init__(
        self,
        *,
        send: SendBatch[T],
        take: TakeBatch[T],
        discard: Discard,
        flush_at: int,
        flush_interval: float,
        max_items: int,
        name: str = "oakdata-worker",
    ) -> None:
        self._send = send
        self._take = take
        self._discard = discard
        self._flush_at = flush_at
        self._flush_interval = flush_interval
        self._max_items = max_items
        self._name = name
        self._reset()

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child, where inherited locks may be
        held by threads that do not exist there, and the parent's items are the parent's."""
        self._pid = os.getpid()
        lock = threading.Lock()
        self._wake_worker = threading.Condition(lock)
        self._wake_waiters = threading.Condition(lock)
        self._queue: deque[T] = deque()
        self._put_count = 0  # items ever put; an item's sequence number is its put_count
        self._taken_count = 0  # items handed to send
        self._resolved_count = 0  # items whose send returned
        self._flush_target = 0  # send everything up to this sequence number now
        self._oldest_put_at = 0.0
        self._waiters: list[_FlushWaiter] = []
        self._stopping = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    def reset_after_fork(self) -> None:
        self._reset()

    def put(self, item: T) -> bool:
        """Queue an item without ever waiting for the sender; False if the queue is full."""
        if self._pid != os.getpid():
            # A fork that bypassed os.register_at_fork hooks (rare); same remedy.
            self._reset()
        with self._wake_worker:
            if len(self._queue) >= self._max_items:
                return False
            if not self._queue:
                self._oldest_put_at = time.monotonic()
            self._queue.append(item)
            self._put_count += 1
            if self._thread is None:
                self._start_locked()
            if len(self._queue) >= self._flush_at:
                self._wake_worker.notify()
            return True

    def flush(self, timeout: float | None) -> bool:
        """Send everything put so far; True if all of it was delivered within timeout."""
        if threading.current_thread() is self._thread:
            return False  # called from inside a send (a log handler, say): waiting would deadlock
        with self._wake_worker:
            target = self._put_count
            if self._resolved_count >= target:
                return True
            waiter = _FlushWaiter(target)
            self._waiters.append(waiter)
            self._flush_target = max(self._flush_target, target)
            self._wake_worker.notify()
            try:
                done = self._wake_waiters.wait_for(lambda: self._resolved_count >= target, timeout)
            finally:
                self._waiters.remove(waiter)
            return done and not waiter.failed

    def shutdown(self, timeout: float | None) -> bool:
        """Flush, then stop the thread. On timeout, what still waits is discarded."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._wake_worker:
            self._stopping = True
            self._wake_worker.notify()
        delivered = self.flush(timeout)
        if not delivered:
            with self._wake_worker:
                left = len(self._queue)
                self._queue.clear()
                self._resolved_count += left
                self._taken_count += left
            if left:
                self._discard(left)
            # Cut any back-off short; a request already in flight ends by its own timeout.
            self._abort.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return delivered

    def close_nowait(self) -> None:
        """Ask the thread to send what waits and stop, without waiting for it (finalizers)."""
        with self._wake_worker:
            self._stopping = True
            self._wake_worker.notify()

    def pending(self) -> int:
        with self._wake_worker:
            return self._put_count - self._resolved_count

    def _start_locked(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
            self._queue.pop()
            self._put_count -= 1
            raise WorkerUnavailable(str(exc)) from exc
        self._thread = thread

    def _run(self) -> None:
        while True:
            with self._wake_worker:
                batch = self._next_batch_locked()
                if batch is None:
                    return
                first_sequence = self._taken_count + 1
                self._taken_count += len(batch)
            try:
                failed = self._send(batch, self._abort)
            except Exception as exc:
                logger.error("oakdata worker: unexpected %s while sending", type(exc).__name__)
                failed = len(batch)
            with self._wake_worker:
                self._resolved_count += len(batch)
                if failed:
                    for waiter in self._waiters:
                        if waiter.target >= first_sequence:
                            waiter.failed = True
                self._wake_waiters.notify_all()

    def _next_batch_locked(self) -> list[T] | None:
        """Wait until a batch is due and take it; None once stopping with nothing left."""
        while True:
            if self._abort.is_set():
                return None
            if self._queue:
                now = time.monotonic()
                due_at = self._oldest_put_at + self._flush_interval
                if (
                    self._stopping
                    or self._flush_target > self._taken_count
                    or len(self._queue) >= self._flush_at
                    or (self._flush_interval > 0 and now >= due_at)
                ):
                    batch = self._take(self._queue)
                    # What remains has waited at most as long; treat it as just arrived,
                    # which is at worst one interval late and only under a backlog.
                    self._oldest_put_at = now
                    return batch
                wait = due_at - now if self._flush_interval > 0 else None
            elif self._stopping:
                return None
            else:
                wait = None
            self._wake_worker.wait(wait)
