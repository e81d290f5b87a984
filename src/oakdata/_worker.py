"""The background thread that owns the queue; it knows nothing of events or HTTP.

Items are opaque. The thread wakes when enough are waiting, when the oldest has waited
flush_interval seconds, or when asked to flush, and hands batches to ``send`` one at a time.
The bookkeeping lives in _queue.QueueState, shared with the asyncio worker.

flush() sends the batch itself when it can (``send_here``), rather than waking the thread
and waiting to be woken in turn: each of those two hand-offs between threads costs a
scheduler's delay, and on a busy machine that was the whole tail of a serverless
capture-and-flush (p99 1.5-5 ms against 0.2 ms sent from the caller's thread, measured in
one process). What cannot finish before flush's deadline (a back-off) is handed to the
thread as a Resume and finished there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from . import _log
from ._queue import Batch, QueueSettings, QueueState, QueueUnavailable, ShutdownBudget

# send(batch, abort) -> how many items of the batch were not delivered. It must return
# promptly once abort is set (its waits end; a request in flight ends by its own timeout).
SendBatch = Callable[[list[bytes], threading.Event], int]
Discard = Callable[[int], None]
# The rest of a send begun by flush() on its caller's thread, finished by a sender thread:
# resume(abort) -> how many items were not delivered, as SendBatch.
Resume = Callable[[threading.Event], int]
# send_here(batch, deadline, abort): a send on the caller's thread, until the monotonic
# deadline (None: none); how many were not delivered, or a Resume for the rest.
SendHere = Callable[[list[bytes], "float | None", threading.Event], "int | Resume"]


class Worker:
    def __init__(
        self,
        *,
        send: SendBatch,
        discard: Discard,
        settings: QueueSettings,
        senders: int = 1,
        on_thread_exit: Callable[[], None] | None = None,
        send_here: SendHere | None = None,
        name: str = "oakdata-worker",
    ) -> None:
        self._on_thread_exit = on_thread_exit
        self._send_here = send_here
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
        self._resumes: list[tuple[Batch, Resume]] = []  # flush's sends, for a sender to end
        self._sending_here = False  # a flush() is sending on its caller's thread

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
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            state = self._state
            waiter = state.request_flush()
            if waiter is None:
                return True
            batch = self._take_here_locked()
            if batch is None:  # the senders' work; a batch taken here is all that waited
                self._wake_worker.notify()
        try:
            if batch is not None:
                self._send_batch_here(batch, deadline)
            with self._lock:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                done = self._wake_waiters.wait_for(lambda: state.is_done(waiter), left)
                return done and not waiter.failed
        finally:
            with self._lock:
                state.waiters.remove(waiter)

    def _take_here_locked(self) -> Batch | None:
        """The batch flush()'s caller may send itself: all that waits, when it fits in one
        batch and nothing else is being sent (a larger backlog is the senders' job, two at
        a time). One caller at a time: its connection is not shared."""
        state = self._state
        if self._send_here is None or self._sending_here or state.in_flight or self._resumes:
            return None
        batch, _ = state.next_batch(time.monotonic())
        if batch is not None and state.waiting():
            state.requeue(batch)  # more than one batch: leave it all to the senders
            return None
        if batch is not None:
            self._sending_here = True
        return batch

    def _send_batch_here(self, batch: Batch, deadline: float | None) -> None:
        # A signal handler that shuts down while this thread is inside the send below
        # waits for this batch until its own timeout: the send resumes only after it.
        assert self._send_here is not None
        try:
            outcome = self._send_here(batch.items, deadline, self._abort)
        except Exception as exc:
            _log.error("oakdata flush: unexpected %s while sending", type(exc).__name__)
            outcome = len(batch.items)
        with self._lock:
            self._sending_here = False
            if isinstance(outcome, int):
                self._resolved_locked(batch, outcome)
                return
            self._resumes.append((batch, outcome))
            if any(thread.is_alive() for thread in self._threads):
                self._wake_worker.notify()
            else:  # none yet, or they stopped meanwhile (shutdown): one to finish it
                self._start_sender_locked()

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

    def _start_sender_locked(self) -> None:
        """A sender for a Resume, when no thread is left to finish it."""
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: nobody can finish it; given up on
            batch, _ = self._resumes.pop()
            self._resolved_locked(batch, len(batch.items), abandoned=True)
            self._discard(len(batch.items))
            return
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
            resume: Resume | None = None
            with self._lock:
                while True:
                    if self._resumes:
                        # Even once aborted: an unfinished send must still be counted,
                        # and with abort set it ends at its next wait.
                        batch, resume = self._resumes.pop(0)
                        break
                    if state.finished() or self._abort.is_set():
                        return
                    taken, wait = state.next_batch(time.monotonic())
                    if taken is not None:
                        batch = taken
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
                if resume is not None:
                    failed = resume(self._abort)
                else:
                    failed = self._send(batch.items, self._abort)
            except Exception as exc:
                _log.error("oakdata worker: unexpected %s while sending", type(exc).__name__)
                failed = len(batch.items)
            with self._lock:
                self._resolved_locked(batch, failed)

    def _resolved_locked(self, batch: Batch, failed: int, *, abandoned: bool = False) -> None:
        self._state.resolved(batch, failed, abandoned=abandoned or self._abort.is_set())
        self._wake_waiters.notify_all()
        if self._blocked_puts:
            self._room.notify_all()  # a spool makes room when a batch is acked
