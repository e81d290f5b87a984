"""Measuring an event loop's lag from inside it: shared by the SDK and the recipe tests."""

from __future__ import annotations

import asyncio

TICK_SECONDS = 0.005
# The tests' bound on the worst lag: a behaviour, not a figure of speed. A blocking connect
# or read stalls the loop for the server's whole delay or the request timeout (seconds), so
# the tests make both longer than this; a busy machine's scheduling stays far below it.
# bench/loop_lag.py prints the real figures (median, p99, worst).
BLOCKED_LOOP_SECONDS = 1.0


async def loop_lags(stop: asyncio.Event) -> list[float]:
    """Sleep TICK_SECONDS again and again until stop is set; return how late each wake was."""
    loop = asyncio.get_running_loop()
    lags = []
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(TICK_SECONDS)
        lags.append(loop.time() - before - TICK_SECONDS)
    return lags
