"""Flush before a short-lived handler returns: AWS Lambda, Cloud Functions, cron entry points.

A frozen or finished function never runs its background sender again, so events captured
in it must be delivered before it returns. The decorator and the context manager below do
that for sync and async handlers alike, within a time budget::

    from oakdata import OakClient
    from oakdata.serverless import flush_on_return

    oak = OakClient()  # once per container, reused by warm invocations

    @flush_on_return(oak)
    def handler(event, context):
        oak.capture(event["user_id"], "report_generated")
        return {"ok": True}

With an AWS Lambda context among the handler's arguments, the budget is also bounded by
the invocation's remaining time minus ``margin`` seconds, so flushing never turns into a
Lambda timeout.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import TracebackType

from . import _log
from ._client import OakClient

TYPE_CHECKING = False  # typing, like asyncio, is for type checkers only here: cold starts
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from ._async_client import AsyncOakClient

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DEFAULT_MARGIN", "DEFAULT_TIMEOUT", "flush_on_return", "flushing"]

DEFAULT_TIMEOUT = 5.0
DEFAULT_MARGIN = 0.5

# A code object's flag for `async def` (inspect.CO_COROUTINE), read directly: importing
# inspect, like asyncio, would cost a sync handler's cold start tens of milliseconds.
CO_COROUTINE = 0x80


def flush_on_return(
    client: OakClient | AsyncOakClient,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    margin: float = DEFAULT_MARGIN,
) -> Callable[[F], F]:
    """Decorate a handler so that every return (or raise) first flushes client."""
    _check(client, timeout, margin)

    def decorate(handler: F) -> F:
        if _is_coroutine_function(handler):

            @functools.wraps(handler)
            async def async_handler(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await handler(*args, **kwargs)
                finally:
                    await _flush_async(client, _budget(timeout, margin, args, kwargs))

            return async_handler  # type: ignore[return-value]  # same signature, wrapped

        @functools.wraps(handler)
        def sync_handler(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                _flush_sync(client, _budget(timeout, margin, args, kwargs))

        return sync_handler  # type: ignore[return-value]

    return decorate


class flushing:  # lower-case: it is used like a function, `with flushing(oak):`
    """A context manager (``with`` or ``async with``) that flushes client on the way out.

    Pass ``lambda_context=context`` to bound the flush by a Lambda invocation's time left.
    """

    def __init__(
        self,
        client: OakClient | AsyncOakClient,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        margin: float = DEFAULT_MARGIN,
        lambda_context: object = None,
    ) -> None:
        _check(client, timeout, margin)
        self._client = client
        self._timeout = timeout
        self._margin = margin
        self._context = lambda_context
        self.delivered: bool | None = None  # set on exit: whether the flush delivered all

    def __enter__(self) -> flushing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.delivered = _flush_sync(self._client, self._budget())

    async def __aenter__(self) -> flushing:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.delivered = await _flush_async(self._client, self._budget())

    def _budget(self) -> float:
        return _budget(self._timeout, self._margin, (self._context,), {})


def _is_async_client(client: object) -> bool:
    # If the module was never imported, no AsyncOakClient exists (see oakdata.__getattr__).
    module = sys.modules.get("oakdata._async_client")
    return module is not None and isinstance(client, module.AsyncOakClient)


def _is_coroutine_function(function: Callable[..., Any]) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    code = getattr(function, "__code__", None)
    if code is not None:
        return bool(code.co_flags & CO_COROUTINE)
    import inspect  # a callable object: let inspect decide

    return inspect.iscoroutinefunction(function)


def _check(client: object, timeout: object, margin: object) -> None:
    if not isinstance(client, OakClient) and not _is_async_client(client):
        raise ValueError("client must be an OakClient or an AsyncOakClient.")
    for name, value in (("timeout", timeout), ("margin", margin)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be zero or more seconds, got {value!r}.")


def _budget(timeout: float, margin: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
    """The flush's time limit: timeout, and no later than the Lambda's deadline minus margin."""
    budget = float(timeout)
    for candidate in (*args, *kwargs.values()):
        remaining_ms = getattr(candidate, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            try:
                budget = min(budget, float(remaining_ms()) / 1000.0 - margin)
            except (TypeError, ValueError):
                continue
            break
    return max(0.0, budget)


def _flush_sync(client: OakClient | AsyncOakClient, budget: float) -> bool:
    if isinstance(client, OakClient):
        return client.flush(budget)
    import asyncio

    # An AsyncOakClient from sync code: only possible when no loop runs in this thread.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(client.flush(budget))
    _log.error("oakdata: cannot flush an AsyncOakClient from sync code inside a running loop")
    return False


async def _flush_async(client: OakClient | AsyncOakClient, budget: float) -> bool:
    if not isinstance(client, OakClient):
        return await client.flush(budget)
    import asyncio

    # The threaded client's flush blocks; keep the loop free while it waits.
    return await asyncio.to_thread(client.flush, budget)
