"""What the threaded and the asyncio client share: options, the enqueueing calls, stats.

A subclass supplies only how a message joins its queue (``_put``) and how it waits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from . import _lifecycle, _log, _message, _stats
from ._batching import MAX_MESSAGE_BYTES, take_batch
from ._capture import capture_encoder
from ._config import (
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
from ._context import current_frame
from ._encoding import Encoder
from ._queue import QueueSettings, QueueUnavailable
from ._stats import Counters, Stats

TYPE_CHECKING = False  # typing costs milliseconds to import; only type checkers need it
if TYPE_CHECKING:
    from typing import Any, overload

    from ._spool import Spool
    from .transports.base import AsyncTransport, Transport


class BaseClient:
    # Set by _start to the worker's put: join the queue; False if it is full. May raise
    # QueueUnavailable. (An attribute, not a method: one call less on every capture.)
    _put: Callable[[bytes], bool]

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
        transport: Transport | AsyncTransport | None = None,
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
            spool_path=spool_path,
            spool_max_bytes=spool_max_bytes,
        )
        if debug:
            _log.enable_debug()
        self._counters = Counters()
        self._encoder = Encoder(_lifecycle.TypeWarnings().warn)
        self._encode_capture = capture_encoder(self._encoder)
        self._closed = False
        self._close_lock = threading.RLock()
        self._start(transport)

    def __repr__(self) -> str:
        state = "disabled" if self._config.disabled else ("shut down" if self._closed else "open")
        return f"<{type(self).__name__} host={self._config.host!r} {state}>"

    # -- enqueueing calls: plain calls in both clients; they never block and never raise --

    if TYPE_CHECKING:  # capture(distinct_id, event, ...) or, in a context, capture(event=...)

        @overload
        def capture(
            self, distinct_id: str | int, event: str, properties: Any = None, *,
            groups: Any = None, timestamp: Any = None, uuid: Any = None,
        ) -> str | None: ...  # fmt: skip
        @overload
        def capture(
            self, *, event: str, properties: Any = None,
            groups: Any = None, timestamp: Any = None, uuid: Any = None,
        ) -> str | None: ...  # fmt: skip

    def capture(
        self,
        distinct_id: str | int | None = None,
        event: str | None = None,
        properties: Any = None,
        *,
        groups: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
    ) -> str | None:
        """Queue an event; return its uuid, or None if it was dropped (see stats()).

        Inside an oakdata.context, distinct_id defaults to the context's, and the context's
        properties go under these."""
        if (frame := current_frame()) is not None:  # oakdata.context (_context.py)
            distinct_id, properties = frame.apply(distinct_id, properties)
        return self._enqueue(
            "capture", self._encode_capture, distinct_id, event, properties, groups, timestamp,
            uuid,
        )  # fmt: skip

    def identify(self, distinct_id: str | int | None = None, properties: Any = None) -> str | None:
        """Set traits of the person behind distinct_id (by default, the context's)."""
        if distinct_id is None and (frame := current_frame()) is not None:
            distinct_id = frame.distinct_id  # the id only: request tags are not traits
        return self._enqueue("identify", self._encoded, _message.identify, distinct_id, properties)

    def alias(self, distinct_id: str | int, alias: str | int) -> str | None:
        """Link another id (alias) to the person behind distinct_id."""
        return self._enqueue("alias", self._encoded, _message.alias, distinct_id, alias)

    def group_identify(
        self, group_type: str, group_key: str | int, properties: Any = None
    ) -> str | None:
        """Set properties of a group (a company, a team) that capture's groups refer to."""
        return self._enqueue(
            "group_identify", self._encoded, _message.group_identify, group_type, group_key,
            properties,
        )  # fmt: skip

    def stats(self) -> Stats:
        """Counters since construction: captured == delivered + queued + dropped_total."""
        return self._counters.snapshot()

    def _start(self, transport: Transport | AsyncTransport | None) -> None:
        """Set up the queue and its sender (lazily: no thread or task starts here)."""
        raise NotImplementedError

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
            if len(data) > MAX_MESSAGE_BYTES:
                detail = f"{kind} is {len(data)} bytes serialized, over {MAX_MESSAGE_BYTES}"
                counters.captured_and_dropped(_stats.TOO_LARGE, detail)
                return None
            try:
                queued = self._put(data)
            except QueueUnavailable:
                counters.captured_and_dropped(
                    _stats.AFTER_SHUTDOWN, "the interpreter is shutting down"
                )
                return None
            if not queued:
                detail = f"{self._config.max_queue_size} events already wait to be sent"
                counters.captured_and_dropped(_stats.QUEUE_FULL, detail)
                return None
            if self._config.debug:
                _log.debug("oakdata queued %s (%d bytes)", kind, len(data))
            return uuid
        except Exception as exc:
            if not queued:  # once queued, the event is counted, and will be sent
                detail = f"{kind}: unexpected {type(exc).__name__}"
                counters.captured_and_dropped(_stats.INVALID_INPUT, detail)
            return None
