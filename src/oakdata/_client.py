"""OakClient: the threaded client, a thin shell over the message, delivery and worker pieces."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from . import _lifecycle, _message, _stats
from ._batching import MAX_MESSAGE_BYTES, take_batch
from ._config import (
    DEFAULT_FLUSH_AT,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_INGEST_PATH,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_INITIAL_DELAY,
    Config,
    make_config,
)
from ._delivery import Deliverer, Plan, Send
from ._encoding import Encoder
from ._stats import Counters, Stats
from ._worker import Worker, WorkerUnavailable
from .transports.base import Transport

logger = logging.getLogger("oakdata")


class OakClient:
    """Captures events and sends them in batches from one background thread.

    No method raises after construction: bad input is dropped, counted in ``stats()`` and
    warned about once. See the README for the options and docs/protocol.md for the wire.
    """

    def __init__(
        self,
        secret_key: str | None = None,
        *,
        host: str | None = None,
        flush_at: int = DEFAULT_FLUSH_AT,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_initial_delay: float = DEFAULT_RETRY_INITIAL_DELAY,
        disabled: bool = False,
        debug: bool = False,
        ingest_path: str = DEFAULT_INGEST_PATH,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        gzip: bool = True,
        transport: Transport | None = None,
    ) -> None:
        self._config: Config = make_config(
            secret_key,
            host=host,
            ingest_path=ingest_path,
            flush_at=flush_at,
            flush_interval=flush_interval,
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_initial_delay=retry_initial_delay,
            max_queue_size=max_queue_size,
            disabled=disabled,
            debug=debug,
            gzip=gzip,
        )
        if debug:
            _lifecycle.enable_debug_logging()
        self._counters = Counters()
        self._encoder = Encoder(_lifecycle.TypeWarnings().warn)
        self._closed = False
        self._close_lock = threading.Lock()
        self._sender = _Sender(self._config, self._counters, transport)
        self._worker: Worker[bytes] = Worker(
            send=self._sender.send_batch,
            take=take_batch,
            discard=self._sender.discard,
            flush_at=self._config.flush_at,
            flush_interval=self._config.flush_interval,
            max_items=self._config.max_queue_size,
        )
        if not self._config.disabled:
            # The finalizer holds the worker, never the client, so a client that is dropped
            # without shutdown() can still be collected; its thread then drains and stops.
            finalizer = weakref.finalize(self, self._worker.close_nowait)
            finalizer.atexit = False
            _lifecycle.register(self)

    def __repr__(self) -> str:
        state = "disabled" if self._config.disabled else ("shut down" if self._closed else "open")
        return f"<OakClient host={self._config.host!r} {state}>"

    def __enter__(self) -> OakClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    # -- enqueueing calls -------------------------------------------------------------------

    def capture(
        self,
        distinct_id: str | int,
        event: str,
        properties: Any = None,
        *,
        groups: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
    ) -> str | None:
        """Queue an event; return its uuid, or None if it was dropped (see stats())."""
        return self._enqueue(
            "capture", _message.capture, distinct_id, event, properties, groups, timestamp, uuid
        )

    def identify(self, distinct_id: str | int, properties: Any = None) -> str | None:
        """Set traits of the person behind distinct_id."""
        return self._enqueue("identify", _message.identify, distinct_id, properties)

    def alias(self, distinct_id: str | int, alias: str | int) -> str | None:
        """Link another id (alias) to the person behind distinct_id."""
        return self._enqueue("alias", _message.alias, distinct_id, alias)

    def group_identify(
        self, group_type: str, group_key: str | int, properties: Any = None
    ) -> str | None:
        """Set properties of a group (a company, a team) that capture's groups refer to."""
        return self._enqueue(
            "group_identify", _message.group_identify, group_type, group_key, properties
        )

    def _enqueue(self, kind: str, build: Callable[..., _message.Message], *args: Any) -> str | None:
        if self._config.disabled:
            return None
        counters = self._counters
        try:
            if self._closed:
                counters.captured_and_dropped(_stats.AFTER_SHUTDOWN, f"{kind} after shutdown()")
                return None
            try:
                message = build(*args)
            except _message.InvalidInput as exc:
                counters.captured_and_dropped(_stats.INVALID_INPUT, f"{kind}: {exc}")
                return None
            data = self._encoder.encode(message)
            if len(data) > MAX_MESSAGE_BYTES:
                detail = f"{kind} is {len(data)} bytes serialized, over {MAX_MESSAGE_BYTES}"
                counters.captured_and_dropped(_stats.TOO_LARGE, detail)
                return None
            # Counted before the put, so that a worker delivering it at once never makes
            # "queued" dip below zero.
            counters.captured_and_queued()
            try:
                accepted = self._worker.put(data)
            except WorkerUnavailable:
                counters.dropped(_stats.AFTER_SHUTDOWN, 1, "the interpreter is shutting down")
                return None
            if not accepted:
                detail = f"{self._config.max_queue_size} events already wait to be sent"
                counters.dropped(_stats.QUEUE_FULL, 1, detail)
                return None
            if self._config.debug:
                logger.debug("oakdata queued %s (%d bytes)", kind, len(data))
            uuid: str = message["uuid"]
            return uuid
        except Exception as exc:
            counters.captured_and_dropped(
                _stats.INVALID_INPUT, f"{kind}: unexpected {type(exc).__name__}"
            )
            return None

    # -- lifecycle --------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Send what waits now. True if every event waiting at the call was delivered.

        Never blocks past timeout (seconds); None waits until each batch is delivered or
        dropped, which the retry policy bounds.
        """
        if self._config.disabled:
            return True
        try:
            if self._config.debug:
                logger.debug("oakdata flush: %d pending", self._worker.pending())
            return self._worker.flush(_timeout(timeout))
        except Exception as exc:
            logger.error("oakdata flush failed: unexpected %s", type(exc).__name__)
            return False

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the background thread. Idempotent. True if all was delivered."""
        if self._config.disabled:
            return True
        try:
            with self._close_lock:
                self._closed = True
            delivered = self._worker.shutdown(_timeout(timeout))
            self._counters.report_unreported()
            if self._config.debug:
                logger.debug("oakdata shut down (everything delivered: %s)", delivered)
            return delivered
        except Exception as exc:
            logger.error("oakdata shutdown failed: unexpected %s", type(exc).__name__)
            return False

    def stats(self) -> Stats:
        """Counters since construction: captured == delivered + queued + dropped_total."""
        return self._counters.snapshot()

    def _reset_after_fork(self) -> None:
        """In a forked child: a fresh queue, thread and connection; the parent's events are
        the parent's to send, so none of them is sent twice."""
        self._counters = Counters()
        self._sender.reset_after_fork(self._counters)
        self._worker.reset_after_fork()


def _timeout(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if seconds > 0 else 0.0


class _Sender:
    """Drives delivery plans with blocking I/O on the worker thread."""

    def __init__(self, config: Config, counters: Counters, transport: Transport | None) -> None:
        self._config = config
        self._counters = counters
        self._deliverer = Deliverer(config, counters)
        self._transport = transport

    def reset_after_fork(self, counters: Counters) -> None:
        self._counters = counters
        self._deliverer = Deliverer(self._config, counters)
        if self._transport is not None:
            self._transport.reset_after_fork()

    def send_batch(self, batch: list[bytes], abort: threading.Event) -> int:
        return run_plan(self._deliverer.deliver(batch), self._get_transport(), abort)

    def discard(self, count: int) -> None:
        cause = f"{count} events still waited when shutdown's timeout ran out"
        self._counters.dropped(_stats.SHUTDOWN_TIMEOUT, count, cause)

    def _get_transport(self) -> Transport:
        if self._transport is None:
            # Imported here, on the worker thread: http.client and ssl cost several
            # milliseconds, which `import oakdata` and the constructor should not pay.
            from .transports.http import HttpTransport

            self._transport = HttpTransport()
        return self._transport


def run_plan(plan: Plan, transport: Transport, abort: threading.Event) -> int:
    """Carry out a delivery plan with blocking calls; waits end early when abort is set."""
    try:
        action = next(plan)
        while True:
            if isinstance(action, Send):
                action = plan.send(transport.send(action.request))
            else:
                action = plan.send(abort.wait(action.seconds))
    except StopIteration as done:
        dropped: int = done.value
        return dropped
