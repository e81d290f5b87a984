"""asyncio.wait_for without its Python 3.10 flaw.

On 3.10, wait_for can swallow the cancellation of the task awaiting it when the inner
awaitable finishes at the same moment (bpo-42130): a sender task cancelled by asyncio.run
at loop end would then carry on and wait forever, and asyncio.run with it. asyncio.wait
never swallows a cancellation, so the timeout is built on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """The awaitable's result; asyncio.TimeoutError after timeout seconds (None: no limit)."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    # Not awaited after cancelling: awaiting could swallow a cancellation of our own.
    task.cancel()
    raise asyncio.TimeoutError
