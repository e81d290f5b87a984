"""The background thread that owns the queue; it knows nothing of events or HTTP.

Items are opaque. The thread wakes when enough are waiting, when the oldest has waited
flush_interval seconds, or when asked to flush, and hands batches to ``send`` one at a time.
The bookkeeping lives in _queue.QueueState, shared with the asyncio worker.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from . import _log
from ._queue import QueueSettings, QueueState, QueueUnavailable, ShutdownBudget

# send(batch, abort) -> how many items of the batch were not delivered. It must return
# promptly once abort is set (its waits end; a request in flight ends by its own timeout).
SendBatch = Callable[[list[bytes], threading.Event], int]
Discard = Callable[[int], None]


class Worker:
    def __init__(
        self,
        *,
        send: SendBatch,
        discard: Discard,
        settings: QueueSettings,
        senders: int = 1,
        on_thread_exit: Callable[[], None] | None = None,
        name: str = "oakdata-worker",
    ) -> None:
        self._on_thread_exit = on_thread_exit
        # senders > 1: when a backlog builds while a request is in flight, another thread
        # sends the next batch at the same time; against a distant server throughput is
        # bounded by round trips, not by CPU. Each thread must have a connection of its own.
        self._max_senders = senders
        self._send = send
        self._discard = discard
        self._name = name
        self._settings = settings
        self._reset()

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child, where inherited locks may be
        held by threads that do not exist there, and the parent's items are the parent's."""
        self._pid = os.getpid()
        # Re-entrant: a signal handler may shut down while the main thread is inside put().
        # Held as itself, not through a Condition, whose __enter__ is Python code: put()
        # takes it on every capture.
        self._lock = lock = threading.RLock()
        self._wake_worker = threading.Condition(lock)
        self._wake_waiters = threading.Condition(lock)
        self._room = threading.Condition(lock)  # for put_waiting, when a batch leaves
        self._blocked_puts = 0
        self._state: QueueState = QueueState(self._settings)
        self._abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle_senders = 0  # sender threads waiting for work

    def reset_after_fork(self) -> None:
        self._settings = self._settings.for_child()
        self._reset()

    def start(self) -> None:
        """Start sending now (events recovered from a spool wait for no capture)."""
        with self._lock:
            if not self._threads and self._state.waiting():
                self._start_locked()

    def close_spool(self) -> None:
        with self._lock:
            self._settings.close_spool()

    def put(self, item: bytes) -> bool:
        """Queue an item without ever waiting for the sender; False if the queue is full."""
        # acquire() and release() rather than `with`: the with statement's __exit__ call
        # costs more than the lock itself, a twentieth of a capture.
        lock = self._lock
        lock.acquire()
        try:
            wake = self._state.put(item)
            if wake is None:
                return False
            if not self._threads:
                self._start_locked()
                return True
            if not wake:
                return True
            # A batch is due. In a backlog every put finds it so while the senders are busy
            # sending: then there is nobody to wake, and a notify (or the pid check's
            # system call) per event would only slow the caller down.
            if self._idle_senders:
                self._wake_worker.notify()
            elif len(self._threads) < self._max_senders:
                self._add_sender_locked()
            else:
                return True
        finally:
            lock.release()
        self._check_pid()
        return True

    def put_waiting(self, item: bytes, timeout: float) -> bool:
        """put(), but a full queue is waited on, up to timeout seconds, instead of refusing
        the item at once: for batch jobs that would rather slow down than lose events.
        False if there was no room in time, or if waiting could never end (called from a
        sender thread, or while shutting down)."""
        deadline = time.monotonic() + timeout
        while not self.put(item):
            if threading.current_thread() in self._threads:
                return False  # a sender waiting for room would wait for itself
            with self._lock:
                state = self._state
                remaining = deadline - time.monotonic()
                if state.stopping or remaining <= 0:
                    return False
                if state.has_room(len(item)):  # made since put() looked
                    continue
                # Everything waiting is due now: a queue smaller than flush_at, with no
                # timer, would otherwise never make room.
                state.flush_target = max(state.flush_target, state.put_count)
                self._wake_worker.notify()
                self._blocked_puts += 1
                try:
                    self._room.wait(remaining)
                finally:
                    self._blocked_puts -= 1
        return True

    def _check_pid(self) -> None:
        """A fork that bypassed the os.register_at_fork hooks (a C extension calling
        fork(), rare) left us a queue without a thread. Checked when a batch is due rather
        than on every put: getpid() is a system call."""
        if self._pid != os.getpid():
            self.reset_after_fork()

    def flush(self, timeout: float | None) -> bool:
        """Send everything put so far; True if all of it was delivered within timeout."""
        if threading.current_thread() in self._threads:
            return False  # called from inside a send (a log handler, say): it would deadlock
        self._check_pid()
        with self._lock:
            state = self._state
            waiter = state.request_flush()
            if waiter is None:
                return True
            self._wake_worker.notify()
            try:
                done = self._wake_waiters.wait_for(lambda: state.is_done(waiter), timeout)
            finally:
                state.waiters.remove(waiter)
            return done and not waiter.failed

    def shutdown(self, timeout: float | None) -> bool:
        """Flush, then stop the thread. On timeout, what still waits is discarded."""
        budget = ShutdownBudget(timeout, time.monotonic())
        with self._lock:
            self._state.stopping = True
            self._wake_worker.notify_all()  # every sender thread must see it
        delivered = self.flush(budget.flush_timeout(time.monotonic()))
        if not delivered:
            with self._lock:
                left = self._state.discard_waiting()
                # Other flushes waiting on what was just given up on return now.
                self._wake_waiters.notify_all()
            if left:
                self._discard(left)
            # Cut any back-off short; a request already in flight ends by its own timeout.
            self._abort.set()
            with self._lock:
                self._wake_worker.notify_all()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(budget.stop_timeout(time.monotonic()))
        return delivered

    def close_nowait(self) -> None:
        """Ask the thread to send what waits and stop, without waiting (for finalizers)."""
        with self._lock:
            self._state.stopping = True
            self._wake_worker.notify_all()  # every sender thread must see it

    def accepted_count(self) -> int:
        """Items ever put (since construction or the fork), read without the lock: one int."""
        return self._state.put_count

    def pending(self) -> int:
        with self._lock:
            return self._state.pending()

    def _start_locked(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't create new thread at interpreter shutdown"
            if self._state.unput():
                raise QueueUnavailable(str(exc)) from exc
            return  # spooled: the next client sends it
        self._threads.append(thread)

    def _add_sender_locked(self) -> None:
        """Another sender, when every one is busy with a request and a batch is due."""
        state = self._state
        if (
            len(self._threads) < self._max_senders
            and len(state.in_flight) >= len(self._threads)
            and state.waiting() >= self._settings.flush_at
        ):
            thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            try:
                thread.start()
            except RuntimeError:
                return  # interpreter shutdown: one sender carries on
            self._threads.append(thread)

    def _run(self) -> None:
        try:
            self._sending_loop()
        finally:
            if self._on_thread_exit is not None:
                self._on_thread_exit()

    def _sending_loop(self) -> None:
        state = self._state
        while True:
            with self._lock:
                while True:
                    if state.finished() or self._abort.is_set():
                        return
                    batch, wait = state.next_batch(time.monotonic())
                    if batch is not None:
                        if self._blocked_puts:
                            self._room.notify_all()
                        self._add_sender_locked()
                        break
                    self._idle_senders += 1
                    try:
                        self._wake_worker.wait(wait)
                    finally:
                        self._idle_senders -= 1
            try:
                failed = self._send(batch.items, self._abort)
            except Exception as exc:
                _log.error("oakdata worker: unexpected %s while sending", type(exc).__name__)
                failed = len(batch.items)
            with self._lock:
                state.resolved(batch, failed, abandoned=self._abort.is_set())
                self._wake_waiters.notify_all()
                if self._blocked_puts:
                    self._room.notify_all()  # a spool makes room when a batch is acked
