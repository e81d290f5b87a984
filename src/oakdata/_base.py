"""What the threaded and the asyncio client share: options, the enqueueing calls, stats,
the fork reset, and what their senders share.

A subclass supplies its worker and sender (``_start``) and how it waits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from . import _lifecycle, _log, _message, _stats
from ._batching import MAX_MESSAGE_BYTES, take_batch
from ._capture import encode_capture
from ._config import (
    DEFAULT_BLOCK_TIMEOUT,
    DEFAULT_FLUSH_AT,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_INGEST_PATH,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_INITIAL_DELAY,
    DEFAULT_SPOOL_MAX_BYTES,
    Config,
    make_config,
)
from ._context import current_frame, merged_under
from ._delivery import Deliverer
from ._encoding import Encoder
from ._hooks import HookDropped, apply_before_send
from ._notify import Notifier
from ._queue import QueueSettings, QueueUnavailable
from ._stats import Counters, Stats

TYPE_CHECKING = False  # typing costs milliseconds to import; only type checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from typing import Any, Literal, overload
    from uuid import UUID

    from ._async_worker import AsyncWorker
    from ._hooks import BeforeSend
    from ._notify import DropReport
    from ._spool import Spool
    from ._worker import Worker
    from .transports.base import AsyncTransport, Transport
    from .types import Properties, PropertyNames

    # What the calls accept; at run time anything else is dropped and counted, never raised.
    Groups = Mapping[str, str | int]
    Timestamp = datetime | str
    MessageId = UUID | str


# At most this long, after a shutdown() without a timeout, for on_error to hear the last drops.
NOTIFIER_DRAIN_SECONDS = 5.0


class BaseClient:
    _worker: Worker | AsyncWorker  # both set by _start
    _sender: BaseSender

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
        spool_path: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        on_error: Callable[[DropReport], object] | None = None,
        on_queue_full: Literal["drop", "block"] = "drop",
        block_timeout: float = DEFAULT_BLOCK_TIMEOUT,
        before_send: BeforeSend | None = None,
        super_properties: Mapping[str, Any] | None = None,
        transport: Transport | AsyncTransport | None = None,
    ) -> None:
        # The options are spelled out above for IDEs and type checkers, and only there:
        # Config declares, checks and holds them.
        self._config: Config = make_config(locals())
        if debug:
            _log.enable_debug()
        self._notifier = None if on_error is None else Notifier(on_error)
        self._counters = self._new_counters()
        self._encoder = Encoder(_log.TypeWarnings().warn)
        # Copied on write, replaced whole: capture() reads it without a lock.
        self._super_properties: dict[str, Any] = self._config.super_properties
        self._update_fast_path()
        self._closed = False
        self._close_lock = threading.RLock()
        self._start(transport)
        self._counters.bind_accepted(self._worker.accepted_count)
        if not self._config.disabled:
            _lifecycle.register(self)

    def __repr__(self) -> str:
        state = "disabled" if self._config.disabled else ("shut down" if self._closed else "open")
        return f"<{type(self).__name__} host={self._config.host!r} {state}>"

    # -- enqueueing calls: plain calls in both clients; they never block and never raise --

    if TYPE_CHECKING:  # capture(distinct_id, event, ...) or, in a context, capture(event=...)

        @overload
        def capture(
            self, distinct_id: str | int, event: str, properties: Properties | None = None, *,
            groups: Groups | None = None, timestamp: Timestamp | None = None,
            uuid: MessageId | None = None,
        ) -> str | None: ...  # fmt: skip
        @overload
        def capture(
            self, *, event: str, properties: Properties | None = None,
            groups: Groups | None = None, timestamp: Timestamp | None = None,
            uuid: MessageId | None = None,
        ) -> str | None: ...  # fmt: skip

    def capture(
        self,
        distinct_id: str | int | None = None,
        event: str | None = None,
        properties: Properties | None = None,
        *,
        groups: Groups | None = None,
        timestamp: Timestamp | None = None,
        uuid: MessageId | None = None,
    ) -> str | None:
        """Queue an event; return its uuid, or None if it was dropped (see stats()).

        Inside an oakdata.context, distinct_id defaults to the context's, and the context's
        properties go under these. `$set` and `$set_once` in properties also update the
        person, as identify does."""
        if (frame := current_frame()) is not None:  # oakdata.context (_context.py)
            distinct_id, properties = frame.apply(distinct_id, properties)
        if not self._fast_path:  # super properties or before_send: the general way
            properties = merged_under(self._super_properties, properties)
            return self._enqueue(
                "capture", self._encoded, _message.capture, distinct_id, event, properties,
                groups, timestamp, uuid,
            )  # fmt: skip
        return self._enqueue(
            "capture", encode_capture, self._encoder, distinct_id, event, properties, groups,
            timestamp, uuid,
        )  # fmt: skip

    def identify(
        self,
        distinct_id: str | int | None = None,
        properties: Properties | None = None,
        *,
        set_once: Properties | None = None,
        unset: PropertyNames | None = None,
        timestamp: Timestamp | None = None,
        uuid: MessageId | None = None,
    ) -> str | None:
        """Set traits of the person behind distinct_id (by default, the context's).

        properties are set (as are those under its `$set`); set_once (and `$set_once`) only
        where the person has no value yet; unset (and `$unset`) names properties to remove."""
        if distinct_id is None and (frame := current_frame()) is not None:
            distinct_id = frame.distinct_id  # the id only: request tags are not traits
        return self._enqueue(
            "identify", self._encoded, _message.identify, distinct_id, properties, set_once,
            unset, timestamp, uuid,
        )  # fmt: skip

    def alias(
        self,
        distinct_id: str | int,
        alias: str | int,
        *,
        timestamp: Timestamp | None = None,
        uuid: MessageId | None = None,
    ) -> str | None:
        """Link another id (alias) to the person behind distinct_id."""
        return self._enqueue(
            "alias", self._encoded, _message.alias, distinct_id, alias, timestamp, uuid
        )

    def group_identify(
        self,
        group_type: str,
        group_key: str | int,
        properties: Properties | None = None,
        *,
        timestamp: Timestamp | None = None,
        uuid: MessageId | None = None,
    ) -> str | None:
        """Set properties of a group (a company, a team) that capture's groups refer to."""
        return self._enqueue(
            "group_identify", self._encoded, _message.group_identify, group_type, group_key,
            properties, timestamp, uuid,
        )  # fmt: skip

    def register(self, properties: Mapping[str, Any]) -> None:
        """Add properties to every later capture (under each capture's own and its
        context's; the newest value of a name wins). Never raises."""
        if isinstance(properties, Mapping):
            with self._close_lock:
                self._super_properties = {**self._super_properties, **properties}
                self._update_fast_path()

    def unregister(self, *names: str) -> None:
        """Stop adding these super properties to captures."""
        with self._close_lock:
            kept = self._super_properties
            self._super_properties = {k: v for k, v in kept.items() if k not in names}
            self._update_fast_path()

    @property
    def super_properties(self) -> Mapping[str, Any]:
        """The properties every capture gets (read-only; see register/unregister)."""
        return MappingProxyType(self._super_properties)

    def _update_fast_path(self) -> None:
        # One attribute read on capture's path decides whether it may write its message as
        # text (_capture.encode_capture) or must build it as a dict for the hook or merge.
        self._fast_path = not self._super_properties and self._config.before_send is None

    def stats(self) -> Stats:
        """Counters since construction: captured == delivered + queued + dropped_total."""
        return self._counters.snapshot()

    def _put_when_room(self, data: bytes) -> bool:
        """on_queue_full="block": wait for room, within block_timeout (OakClient only)."""
        return False

    def _start(self, transport: Transport | AsyncTransport | None) -> None:
        """Set _sender and _worker (lazily: no thread or task needs to start here)."""
        raise NotImplementedError

    def _exit_flush(self, timeout: float) -> None:
        """At interpreter exit: send what is left within timeout (see _lifecycle)."""
        raise NotImplementedError

    def _new_counters(self) -> Counters:
        notifier = self._notifier
        return Counters(on_drop=None if notifier is None else notifier.notify)

    def _reset_after_fork(self) -> None:
        """In a forked child: a fresh queue, sender, connection and counters. The parent's
        events are the parent's to send, so none of them is sent twice."""
        self._worker.reset_after_fork()
        if self._notifier is not None:
            self._notifier.reset_after_fork()
        self._counters = self._new_counters()
        self._counters.bind_accepted(self._worker.accepted_count)
        self._sender.reset_after_fork(self._counters)

    def _drain_seconds(self, deadline: float | None) -> float:
        """How long shutdown may wait for on_error to hear of the last drops."""
        left = NOTIFIER_DRAIN_SECONDS if deadline is None else deadline - time.monotonic()
        return max(0.0, min(left, NOTIFIER_DRAIN_SECONDS))

    def _shut_down(self, delivered: bool) -> bool:
        """What follows the worker's shutdown, in both clients; shutdown()'s answer."""
        self._worker.close_spool()
        self._counters.report_unreported()
        delivered = self._nothing_lost(delivered)
        if self._config.debug:
            _log.debug("oakdata shut down (everything delivered: %s)", delivered)
        return delivered

    def _nothing_lost(self, delivered: bool) -> bool:
        """flush()'s and shutdown()'s answer: the worker's, and no event dropped since the
        previous answer (a full queue, invalid input: the worker never saw those)."""
        lost = self._counters.drops_since_last_call()
        return delivered and not lost

    def _queue_settings(self) -> QueueSettings:
        config = self._config
        return QueueSettings(
            take=take_batch,
            flush_at=config.flush_at,
            flush_interval=config.flush_interval,
            max_items=config.max_queue_size,
            spool=self._open_spool(),
        )

    def _open_spool(self) -> Spool | None:
        """The spool, when configured; events an earlier process left there are counted."""
        if self._config.spool_path is None or self._config.disabled:
            return None
        from ._spool import Spool, SpoolUnavailable  # only spooling clients pay for it

        try:
            spool = Spool(self._config.spool_path, self._config.spool_max_bytes)
        except SpoolUnavailable as exc:
            raise ValueError(str(exc)) from None
        self._counters.recovered(spool.recovered)
        return spool

    def _encoded(self, build: Callable[..., _message.Message], *args: Any) -> tuple[str, bytes]:
        message = build(*args)
        hook = self._config.before_send
        if hook is not None:
            message = apply_before_send(hook, message)
        return message["uuid"], self._encoder.encode(message)

    def _mark_closed(self) -> None:
        with self._close_lock:
            self._closed = True

    def _enqueue(self, kind: str, make: Callable[..., tuple[str, bytes]], *args: Any) -> str | None:
        """make(*args) -> (uuid, the message's bytes), or raises _message.InvalidInput."""
        if self._config.disabled:
            return None
        counters = self._counters
        queued = False
        # Analytics must never take the app down: whatever goes wrong below, including a
        # bug of ours, costs this one event and a warning, never an exception in the caller.
        try:
            if self._closed:
                counters.captured_and_dropped(_stats.AFTER_SHUTDOWN, f"{kind} after shutdown()")
                return None
            try:
                uuid, data = make(*args)
            except _message.InvalidInput as exc:
                counters.captured_and_dropped(_stats.INVALID_INPUT, f"{kind}: {exc}")
                return None
            except HookDropped as dropped:
                counters.captured_and_dropped(dropped.reason, dropped.detail)
                return None
            if len(data) > MAX_MESSAGE_BYTES:
                detail = f"{kind} is {len(data)} bytes serialized, over {MAX_MESSAGE_BYTES}"
                counters.captured_and_dropped(_stats.TOO_LARGE, detail)
                return None
            try:
                queued = self._worker.put(data)
            except QueueUnavailable:
                counters.captured_and_dropped(
                    _stats.AFTER_SHUTDOWN, "the interpreter is shutting down"
                )
                return None
            if not queued and self._config.on_queue_full == "block":
                queued = self._put_when_room(data)
            if not queued:
                detail = f"{self._config.max_queue_size} events already wait to be sent"
                counters.captured_and_dropped(_stats.QUEUE_FULL, detail)
                return None
            if self._config.debug:
                # A capture's event name (args[2] in both of capture's calls): names are
                # the app's vocabulary, never property values, and say which event it was.
                name = f" {args[2]!r}" if kind == "capture" else ""
                _log.debug("oakdata queued %s%s (%d bytes)", kind, name, len(data))
            return uuid
        except Exception as exc:
            if not queued:  # once queued, the event is counted, and will be sent
                detail = f"{kind}: unexpected {type(exc).__name__}"
                counters.captured_and_dropped(_stats.INVALID_INPUT, detail)
            return None


class BaseSender:
    """What the threaded and the asyncio sender share: the delivery plan and the transport.
    Each drives the plan its own way (``send_batch``)."""

    _transport: Transport | AsyncTransport | None

    def __init__(self, config: Config, counters: Counters) -> None:
        self._config = config
        self._deliverer = Deliverer(config, counters)

    def reset_after_fork(self, counters: Counters) -> None:
        # A new Deliverer: the parent's counters are the parent's, and its lock may have
        # been held at the fork.
        self._deliverer = Deliverer(self._config, counters)
        self.forget_connections()

    def forget_connections(self) -> None:
        """Connections made in another process or another event loop are not ours to use."""
        if self._transport is not None:
            self._transport.reset_after_fork()

    def discard(self, count: int) -> None:
        """Shutdown's timeout ran out with count events never handed to this sender."""
        cause = f"{count} events still waited when shutdown's timeout ran out"
        self._deliverer.give_up(count, cause)


def transport_is_async(transport: object) -> bool:
    """Whether a transport the app brought is awaited; a ValueError if it cannot send."""
    send = getattr(transport, "send", None)
    if not callable(send):
        raise ValueError("transport must have a send(request) method.")
    import inspect  # only for apps that bring their own transport

    return inspect.iscoroutinefunction(send)


def seconds_or_none(value: object) -> float | None:
    """A timeout argument made safe: None stays None, nonsense and negatives become 0."""
    if value is None:
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    if seconds == float("inf"):
        return None  # the lock APIs reject an infinite timeout; None means the same
    return seconds if seconds > 0 else 0.0
