"""The asyncio task that owns the queue: the thread worker's twin, waiting with asyncio.

The task starts lazily, on the first item put inside a running loop, so a client can be made
at import time. put() may be called from any thread; the state is guarded by a lock and the
task is woken thread-safely. If the loop ends (asyncio.run returns) before the queue is
empty, the batch in flight goes back to the front of the queue for the exit flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable

from . import _log
from ._aio import within
from ._queue import Batch, FlushWaiter, QueueSettings, QueueState, ShutdownBudget

AsyncSendBatch = Callable[[list[bytes], asyncio.Event], Awaitable[int]]
Discard = Callable[[int], None]


class AsyncWorker:
    def __init__(
        self,
        *,
        send: AsyncSendBatch,
        discard: Discard,
        settings: QueueSettings,
    ) -> None:
        self._send = send
        self._discard = discard
        self._settings = settings
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        # Re-entrant for the same reason as the thread worker's: signal handlers.
        self._lock = threading.RLock()
        # The loop the client was made in or last ran in: events put from threads without a
        # loop of their own are sent from it.
        self._home: asyncio.AbstractEventLoop | None = _running_loop()
        self._warned_no_loop = False
        self._state: QueueState = QueueState(self._settings)
        self._forget_loop()

    def _forget_loop(self) -> None:
        # asyncio primitives bind to the loop that first waits on them: a new loop (a second
        # asyncio.run, a forked child) needs new ones.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._abort: asyncio.Event | None = None
        self._in_flight: Batch | None = None

    def reset_after_fork(self) -> None:
        self._settings = self._settings.for_child()
        self._reset()

    def close_spool(self) -> None:
        with self._lock:
            self._settings.close_spool()

    def put(self, item: bytes) -> bool:
        """Queue an item from any thread, never waiting; False if the queue is full."""
        with self._lock:
            wake = self._state.put(item)
        if wake is None:
            return False
        if wake and self._pid != os.getpid():
            # A fork that bypassed the os.register_at_fork hooks; see Worker._check_pid.
            self.reset_after_fork()
            return True
        self._nudge(wake)
        return True

    def accepted_count(self) -> int:
        """Items ever put (since construction or the fork), read without the lock: one int."""
        return self._state.put_count

    def pending(self) -> int:
        with self._lock:
            return self._state.pending()

    async def flush(self, timeout: float | None) -> bool:
        with self._lock:
            waiter = self._state.request_flush()
        if waiter is None:
            return True
        try:
            return await self._wait_for(waiter, timeout)
        finally:
            with self._lock:
                self._state.waiters.remove(waiter)

    async def shutdown(self, timeout: float | None) -> bool:
        budget = ShutdownBudget(timeout, time.monotonic())
        with self._lock:
            self._state.stopping = True
        delivered = await self.flush(budget.flush_timeout(time.monotonic()))
        task = self._task
        if not delivered:
            with self._lock:
                left = self._state.discard_waiting()
            self._signal_progress()  # other flushes waiting on what was given up return now
            if left:
                self._discard(left)
            if self._abort is not None:
                self._abort.set()
        if self._wake is not None:
            self._wake.set()
        if task is not None and not task.done() and task.get_loop() is _running_loop():
            await asyncio.wait({task}, timeout=budget.stop_timeout(time.monotonic()))
            if not task.done():
                # A request still in flight past the deadline: give up on it now.
                task.cancel()
                await asyncio.wait({task})
                self._drop_in_flight()
        return delivered

    def has_waiting(self) -> bool:
        with self._lock:
            return bool(self._state.waiting())

    def forget_loop(self) -> None:
        """Before the exit flush runs its own loop: the app's loop is gone."""
        self._forget_loop()

    def _nudge(self, due: bool) -> None:
        """Start the task if it is not running in a live loop; wake it if a batch is due."""
        loop = _running_loop()
        task = self._task
        if task is None or task.done() or (loop is not None and self._loop_is_dead()):
            if loop is not None:
                self._start_task(loop)
            else:
                self._start_from_another_thread()
            return
        if not due or self._wake is None or self._loop is None:
            return
        if loop is self._loop:
            self._wake.set()
        else:
            # Another thread: asyncio.Event is not thread-safe, hand the set to its loop.
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                self._loop.call_soon_threadsafe(self._wake.set)

    def _start_from_another_thread(self) -> None:
        # A sync route of an asyncio app (FastAPI runs `def` routes in a thread pool): no
        # loop runs here, but the app's loop, the one the client last saw, does.
        home = self._home
        if home is not None and home.is_running() and not home.is_closed():
            with contextlib.suppress(RuntimeError):  # it closed meanwhile
                home.call_soon_threadsafe(self._start_in_home_loop)
                return
        if not self._warned_no_loop:
            self._warned_no_loop = True
            _log.warning(
                "oakdata AsyncOakClient got events outside any event loop and knows no "
                "running loop to send them from; they wait for the next flush() or capture "
                "inside a loop. Create the client inside the loop (or enter it with "
                "`async with`), or use OakClient in sync code."
            )

    def _start_in_home_loop(self) -> None:
        loop = _running_loop()
        if loop is not None and (self._task is None or self._task.done() or self._loop_is_dead()):
            self._start_task(loop)
        elif self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Start the task in the running loop now, if there is one (async with, lifespans)."""
        loop = _running_loop()
        if loop is not None:
            self._home = loop
            if self._task is None or self._task.done() or self._loop_is_dead():
                self._start_task(loop)

    def _loop_is_dead(self) -> bool:
        return self._loop is None or self._loop.is_closed() or not self._loop.is_running()

    def _start_task(self, loop: asyncio.AbstractEventLoop) -> None:
        self._forget_loop()
        self._home = loop
        self._loop = loop
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._abort = asyncio.Event()
        self._task = loop.create_task(self._run(), name="oakdata-sender")

    async def _wait_for(self, waiter: FlushWaiter, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            loop = _running_loop()
            if loop is not None and (
                self._task is None or self._task.done() or self._loop_is_dead()
            ):
                self._start_task(loop)
            progress = self._progress
            with self._lock:
                if self._state.is_done(waiter):
                    return not waiter.failed
                self._state.flush_target = max(self._state.flush_target, waiter.target)
            if self._wake is not None:
                self._wake.set()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if progress is None:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await within(progress.wait(), remaining)

    async def _run(self) -> None:
        wake, abort = self._wake, self._abort
        if wake is None or abort is None:
            return  # not started through _start_task; nothing to run
        try:
            while True:
                with self._lock:
                    if self._state.finished() or abort.is_set():
                        return
                    batch, wait = self._state.next_batch(time.monotonic())
                    if batch is None:
                        wake.clear()
                    self._in_flight = batch
                if batch is None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await within(wake.wait(), wait)
                    continue
                try:
                    failed = await self._send(batch.items, abort)
                except Exception as exc:  # the task must outlive any bug in one batch
                    _log.error("oakdata sender: unexpected %s", type(exc).__name__)
                    failed = len(batch.items)
                with self._lock:
                    self._in_flight = None
                    self._state.resolved(batch, failed, abandoned=abort.is_set())
                self._signal_progress()
        except asyncio.CancelledError:
            # The loop is ending (asyncio.run cancels leftover tasks): keep the batch in
            # flight for the exit flush; the server de-duplicates if it did arrive.
            with self._lock:
                if self._in_flight is not None and not abort.is_set():
                    self._state.requeue(self._in_flight)
                    self._in_flight = None
            raise
        finally:
            self._signal_progress()

    def _signal_progress(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        if progress is not None:
            progress.set()

    def _drop_in_flight(self) -> None:
        with self._lock:
            batch, self._in_flight = self._in_flight, None
            if batch is None:
                return
            self._state.resolved(batch, len(batch.items), abandoned=True)
        self._discard(len(batch.items))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
