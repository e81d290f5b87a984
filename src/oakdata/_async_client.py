"""AsyncOakClient: the same client for asyncio apps; it sends from a task, not a thread."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

from . import _log
from ._aio import within
from ._async_worker import AsyncWorker
from ._base import BaseClient, BaseSender, seconds_or_none, transport_is_async
from ._config import Config
from ._delivery import Plan, Send
from ._stats import Counters
from ._wire import NetworkError, Request, Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .transports.base import AsyncTransport, Transport


class AsyncOakClient(BaseClient):
    """Captures events and sends them in batches from an asyncio task.

    It may be made at import time, outside any loop; the task starts with the first event
    captured inside a running loop. capture() and friends are plain calls that never block
    the loop. Await flush() or shutdown() before the loop ends; events left when the loop
    has ended are sent at interpreter exit, within a few seconds.
    """

    _worker: AsyncWorker
    _sender: _AsyncSender

    def _start(self, transport: Transport | AsyncTransport | None) -> None:
        if self._config.on_queue_full == "block":
            raise ValueError(
                "on_queue_full='block' would block the event loop; AsyncOakClient drops "
                "(use OakClient for batch jobs)."
            )
        if transport is None and not self._config.disabled:
            # Made now, not on the first send: importing ssl and http.client (and loading
            # CA certificates) takes tens of milliseconds that would stall the loop, and at
            # interpreter exit no executor thread could do it instead.
            from .transports.async_http import AsyncHttpTransport

            transport = AsyncHttpTransport(prepare_tls=self._config.host.startswith("https"))
        elif transport is not None:
            transport = _as_async_transport(transport)
        self._sender = _AsyncSender(self._config, self._counters, transport)
        self._worker = AsyncWorker(
            settings=self._queue_settings(),
            send=self._sender.send_batch,
            discard=self._sender.discard,
        )

    async def __aenter__(self) -> AsyncOakClient:
        # Entering in a loop (a lifespan, say) ties the client to it, so that captures
        # from the app's worker threads are sent from this loop too.
        self._worker.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def flush(self, timeout: float | None = None) -> bool:
        """Send what waits now. True if every event waiting at the call was delivered.

        Never waits past timeout (seconds); None waits until each waiting batch is
        delivered or dropped, which max_retries and request_timeout bound.
        """
        if self._config.disabled:
            return True
        try:
            return self._nothing_lost(await self._worker.flush(seconds_or_none(timeout)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # flush is called on shutdown paths: it must not raise
            _log.error("oakdata flush failed: unexpected %s", type(exc).__name__)
            return False

    async def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the task. Idempotent. True if everything was delivered."""
        if self._config.disabled:
            return True
        try:
            self._mark_closed()
            seconds = seconds_or_none(timeout)
            deadline = None if seconds is None else time.monotonic() + seconds
            delivered = await self._worker.shutdown(seconds)
            await self._sender.aclose()
            if self._notifier is not None:
                # Waited for in a thread: the app's callback may be slow, the loop must not be.
                await asyncio.to_thread(self._notifier.drain, self._drain_seconds(deadline))
            return self._shut_down(delivered)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.error("oakdata shutdown failed: unexpected %s", type(exc).__name__)
            return False

    def _exit_flush(self, timeout: float) -> None:
        """At interpreter exit the app's loop is gone; send what is left on a loop of our own."""
        if not self._worker.has_waiting():
            return
        self._worker.forget_loop()
        self._sender.forget_connections()
        with contextlib.suppress(Exception):
            asyncio.run(self.shutdown(timeout))


class _AsyncSender(BaseSender):
    """Drives delivery plans with awaited I/O, on the loop."""

    _transport: AsyncTransport | None

    def __init__(
        self, config: Config, counters: Counters, transport: AsyncTransport | None
    ) -> None:
        super().__init__(config, counters)
        self._transport = transport

    async def send_batch(self, batch: list[bytes], abort: asyncio.Event) -> int:
        if self._transport is None:  # a disabled client sends nothing
            return len(batch)
        return await run_plan_async(self._deliverer.deliver(batch), self._transport, abort)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


def _as_async_transport(transport: Transport | AsyncTransport) -> AsyncTransport:
    """An async transport as given, or a sync one (oakdata.testing.MemoryTransport, say)
    called directly on the loop: fine for transports that do not block."""
    if transport_is_async(transport):
        return transport  # type: ignore[return-value]
    return _SyncTransportOnLoop(transport)  # type: ignore[arg-type]


class _SyncTransportOnLoop:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"_SyncTransportOnLoop({self._transport!r})"

    async def send(self, request: Request) -> Response | NetworkError:
        return self._transport.send(request)

    async def aclose(self) -> None:
        self._transport.close()

    def reset_after_fork(self) -> None:
        self._transport.reset_after_fork()


async def run_plan_async(plan: Plan, transport: AsyncTransport, abort: asyncio.Event) -> int:
    """Carry out a delivery plan with awaited calls; waits end early when abort is set."""
    try:
        action = next(plan)
        while True:
            if isinstance(action, Send):
                try:
                    result = await transport.send(action.request)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a transport of the app's own may break the contract
                    result = NetworkError(f"the transport raised {type(exc).__name__}")
                action = plan.send(result)
            else:
                try:
                    await within(abort.wait(), action.seconds)
                    interrupted = True
                except asyncio.TimeoutError:
                    interrupted = False
                action = plan.send(interrupted)
    except StopIteration as done:
        dropped: int = done.value
        return dropped
