"""AsyncOakClient behind OakClient's synchronous surface, so one behaviour suite drives both.

An event loop runs in a thread of its own for the test's duration. Every call is made
*inside* that loop, as an asyncio app makes it: the enqueueing calls and stats() from a tiny
coroutine, flush() and shutdown() awaited there. The test thread only waits for the result.
Nothing here retries, sleeps or interprets a result: the test, not the adapter, can fail.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from oakdata import AsyncOakClient, Stats

T = TypeVar("T")

# Only a guard against a hang (a blocked loop, a flush that ignores its timeout): no result
# a test asserts on takes anywhere near it.
GUARD_SECONDS = 120.0


class LoopThread:
    """One running event loop in a dedicated thread; close() ends it as asyncio.run does."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(),), name="test-asyncio-loop", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(GUARD_SECONDS):
            raise RuntimeError("the test's event loop did not start")

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        # asyncio.run then cancels leftover tasks, shuts down async generators and the
        # default executor, and closes the loop.

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the loop; its result, or its exception, here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(GUARD_SECONDS)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Make a plain call from inside the loop, as code running in the loop makes it."""

        async def inside() -> T:
            return function(*args, **kwargs)

        return self.run(inside())

    def close(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(GUARD_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError("the test's event loop did not stop")


class AsyncClientAdapter:
    """The synchronous surface the tests use, each call made inside the loop."""

    def __init__(self, loop: LoopThread, client: AsyncOakClient) -> None:
        self.loop = loop
        self.client = client

    def __repr__(self) -> str:
        return repr(self.client)

    def capture(self, *args: Any, **kwargs: Any) -> str | None:
        return self.loop.call(self.client.capture, *args, **kwargs)

    def identify(self, *args: Any, **kwargs: Any) -> str | None:
        return self.loop.call(self.client.identify, *args, **kwargs)

    def alias(self, *args: Any, **kwargs: Any) -> str | None:
        return self.loop.call(self.client.alias, *args, **kwargs)

    def group_identify(self, *args: Any, **kwargs: Any) -> str | None:
        return self.loop.call(self.client.group_identify, *args, **kwargs)

    def register(self, *args: Any, **kwargs: Any) -> None:
        self.loop.call(self.client.register, *args, **kwargs)

    def unregister(self, *args: Any, **kwargs: Any) -> None:
        self.loop.call(self.client.unregister, *args, **kwargs)

    @property
    def super_properties(self) -> Any:
        return self.client.super_properties

    def stats(self) -> Stats:
        return self.loop.call(self.client.stats)

    def flush(self, timeout: Any = None) -> bool:
        return self.loop.run(self.client.flush(timeout))

    def shutdown(self, timeout: Any = None) -> bool:
        return self.loop.run(self.client.shutdown(timeout))

    def __enter__(self) -> AsyncClientAdapter:
        entered = self.loop.run(self.client.__aenter__())
        assert entered is self.client
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.loop.run(self.client.__aexit__(*exc_info))
