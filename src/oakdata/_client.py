"""OakClient: the threaded client. It differs from AsyncOakClient only in how it waits."""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType

from . import _log
from ._base import BaseClient, BaseSender, seconds_or_none, transport_is_async
from ._config import Config
from ._delivery import Action, Plan, Send, Wait
from ._stats import Counters
from ._wire import NetworkError, Request
from ._worker import Resume, Worker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .transports.base import AsyncTransport, Transport

# Sender threads (and connections) at most, when the client owns its transport.
MAX_SENDERS = 2
# flush() hands its send to a sender thread rather than start a request with less time left.
MIN_SECONDS_HERE = 0.05


class OakClient(BaseClient):
    """Captures events and sends them in batches from a background thread (and a second one,
    with its own connection, while a backlog lasts).

    Enqueueing calls (capture, identify, alias, group_identify) never block and never raise:
    bad input is dropped, counted in ``stats()`` and warned about once. The thread starts with
    the first event. See the README for the options and docs/protocol.md for the wire.
    """

    _worker: Worker
    _sender: _Sender

    def _start(self, transport: Transport | AsyncTransport | None) -> None:
        if transport is not None and transport_is_async(transport):
            raise ValueError("OakClient needs a transport with a plain send(); use AsyncOakClient.")
        sender = _Sender(self._config, self._counters, transport)  # type: ignore[arg-type]
        self._sender = sender
        settings = self._queue_settings()
        self._worker = worker = Worker(
            settings=settings,
            # Two connections when we own the transport (each sender thread gets its own);
            # one for a transport the app brought, which may not be thread-safe.
            senders=MAX_SENDERS if transport is None else 1,
            on_thread_exit=sender.close_thread_transport,
            send=sender.send_batch,
            # flush() sends from its caller's thread on a connection of its own; not with a
            # transport the app brought, which the sender thread may be using meanwhile.
            send_here=sender.send_here if transport is None else None,
            discard=sender.discard,
        )
        if settings.spool is not None and settings.spool.recovered:
            worker.start()  # what an earlier process left is sent without waiting
        if not self._config.disabled:
            # The finalizer holds the worker, never the client, so a client dropped without
            # shutdown() can still be collected; its thread then sends what waits and stops.
            finalizer = weakref.finalize(self, worker.close_nowait)
            finalizer.atexit = False

    def __enter__(self) -> OakClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def flush(self, timeout: float | None = None) -> bool:
        """Send what waits now. True if every event waiting at the call was delivered.

        Never blocks past timeout (seconds). None waits until each waiting batch is
        delivered or dropped, which max_retries and request_timeout bound.
        """
        if self._config.disabled:
            return True
        try:
            if self._config.debug:
                _log.debug("oakdata flush: %d pending", self._worker.pending())
            return self._nothing_lost(self._worker.flush(seconds_or_none(timeout)))
        except Exception as exc:  # flush is called on shutdown paths: it must not raise
            _log.error("oakdata flush failed: unexpected %s", type(exc).__name__)
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the background thread. Idempotent. True if all was delivered.

        What still waits when the timeout runs out is dropped and counted (shutdown_timeout).
        """
        if self._config.disabled:
            return True
        try:
            self._mark_closed()
            seconds = seconds_or_none(timeout)
            deadline = None if seconds is None else time.monotonic() + seconds
            delivered = self._worker.shutdown(seconds)
            self._sender.close_here_transport()
            if self._notifier is not None:
                self._notifier.drain(self._drain_seconds(deadline))
            return self._shut_down(delivered)
        except Exception as exc:  # shutdown runs at exit and in signal handlers
            _log.error("oakdata shutdown failed: unexpected %s", type(exc).__name__)
            return False

    def _put_when_room(self, data: bytes) -> bool:
        return self._worker.put_waiting(data, self._config.block_timeout)

    def install_signal_handlers(
        self, signals: Iterable[int] | None = None, timeout: float = 5.0
    ) -> None:
        """On these signals (default SIGTERM), shut down within timeout, then let the handler
        that was installed before (or the default action) run, so the process still stops
        as it would have. Call it from the main thread."""
        from ._signals import install_flush_on_signals  # signal costs import time; few use it

        install_flush_on_signals(self.shutdown, signals, timeout)

    def _exit_flush(self, timeout: float) -> None:
        if not self._closed:
            self.shutdown(timeout)


class _Sender(BaseSender):
    """Drives delivery plans with blocking I/O, on the worker's threads."""

    _transport: Transport | None

    def __init__(self, config: Config, counters: Counters, transport: Transport | None) -> None:
        super().__init__(config, counters)
        self._transport = transport
        self._per_thread = threading.local()  # the default transport: one per sender thread
        self._here: Transport | None = None  # flush()'s, one caller at a time (the worker's rule)

    def reset_after_fork(self, counters: Counters) -> None:
        super().reset_after_fork(counters)
        if self._here is not None:
            self._here.reset_after_fork()

    def send_batch(self, batch: list[bytes], abort: threading.Event) -> int:
        return run_plan(self._deliverer.deliver(batch), self._get_transport(), abort)

    def send_here(
        self, batch: list[bytes], deadline: float | None, abort: threading.Event
    ) -> int | Resume:
        """A batch sent from flush()'s caller's thread, as far as its deadline allows."""
        if self._here is None:
            from .transports.http import HttpTransport  # see _get_transport

            self._here = HttpTransport()
        plan = self._deliverer.deliver(batch)
        return run_plan_until(plan, self._here, abort, deadline, self._finish)

    def _finish(self, plan: Plan, action: Action, abort: threading.Event) -> int:
        """The rest of a send_here, on a sender thread and its connection."""
        return run_plan(plan, self._get_transport(), abort, first=action)

    def close_here_transport(self) -> None:
        here, self._here = self._here, None
        if here is not None:
            here.close()

    def close_thread_transport(self) -> None:
        """A sender thread is ending: close its connection (the app's transport is the app's)."""
        transport = getattr(self._per_thread, "transport", None)
        if transport is not None:
            self._per_thread.transport = None
            transport.close()

    def _get_transport(self) -> Transport:
        if self._transport is not None:
            return self._transport
        transport: Transport | None = getattr(self._per_thread, "transport", None)
        if transport is None:
            # Imported here, on the worker thread: http.client and ssl cost milliseconds
            # that `import oakdata` and the constructor should not pay.
            from .transports.http import HttpTransport

            transport = self._per_thread.transport = HttpTransport()
        return transport


def run_plan(
    plan: Plan, transport: Transport, abort: threading.Event, first: Action | None = None
) -> int:
    """Carry out a delivery plan with blocking calls; waits end early when abort is set.
    first: the plan's next action, when another thread began it (run_plan_until)."""
    try:
        action = next(plan) if first is None else first
        while True:
            action = _step(plan, action, transport, abort)
    except StopIteration as done:
        dropped: int = done.value
        return dropped


def run_plan_until(
    plan: Plan,
    transport: Transport,
    abort: threading.Event,
    deadline: float | None,
    finish: Callable[[Plan, Action, threading.Event], int],
) -> int | Resume:
    """run_plan on flush()'s caller's thread, until its monotonic deadline: a step that
    would end past it is left, with the rest of the plan, to finish(plan, action, abort) on
    a sender thread (the Resume returned). A request is cut to the time left."""
    try:
        action = next(plan)
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left < MIN_SECONDS_HERE or (isinstance(action, Wait) and action.seconds > left):
                    return functools.partial(finish, plan, action)
                request = action.request if isinstance(action, Send) else None
                if request is not None and request.timeout > left:
                    action = Send(Request(request.url, request.headers, request.body, left))
            action = _step(plan, action, transport, abort)
    except StopIteration as done:
        dropped: int = done.value
        return dropped


def _step(plan: Plan, action: Action, transport: Transport, abort: threading.Event) -> Action:
    if isinstance(action, Send):
        try:
            result = transport.send(action.request)
        except Exception as exc:  # a transport of the app's own may break the contract
            result = NetworkError(f"the transport raised {type(exc).__name__}")
        return plan.send(result)
    return plan.send(abort.wait(action.seconds))
