"""Measuring an event loop's lag from inside it: shared by the SDK and the recipe tests."""

from __future__ import annotations

import asyncio

TICK_SECONDS = 0.005


async def loop_lags(stop: asyncio.Event) -> list[float]:
    """Sleep TICK_SECONDS again and again until stop is set; return how late each wake was."""
    loop = asyncio.get_running_loop()
    lags = []
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(TICK_SECONDS)
        lags.append(loop.time() - before - TICK_SECONDS)
    return lags
