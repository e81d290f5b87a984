"""The event loop is never blocked by AsyncOakClient, whatever the server does.

A ticker coroutine asks for a short sleep again and again and records how late it wakes.
The bound (BLOCKED_LOOP_SECONDS, 1 s) is generous on purpose: this is a behaviour, not a
figure of speed. The server's delay, the request timeout and the back-off are each longer
than the bound, so a blocking connect, read or sleep would show as a lag past it;
bench/loop_lag.py measures the real numbers, in these same situations.
"""

from __future__ import annotations

import asyncio

from httpbed import Delay, HttpBed
from looplag import BLOCKED_LOOP_SECONDS, loop_lags
from oakdata import AsyncOakClient

from .conftest import SECRET_KEY

WINDOW_SECONDS = 1.5
# Enough to show the ticker ran all along rather than once after a stall; a 5 ms ticker
# gets hundreds in the window on an idle machine.
MIN_TICKS = 10


async def _lags_while_capturing(client: AsyncOakClient) -> list[float]:
    stop = asyncio.Event()
    ticker = asyncio.create_task(loop_lags(stop))
    loop = asyncio.get_running_loop()
    end = loop.time() + WINDOW_SECONDS
    n = 0
    while loop.time() < end:
        # flush_at=5: a batch is due every few events, so requests keep leaving all along
        client.capture(f"user_{n % 7}", "page_viewed", {"n": n})
        n += 1
        await asyncio.sleep(0.01)
    stop.set()
    return await ticker


def _warm_up(bed: HttpBed) -> None:
    """One event sent and answered at once, before anything is measured.

    The client imports its HTTP transport (ssl, http.client) with its first send, on the
    loop, once per process: tens of milliseconds that are an import, not a wait on the
    server. bench/loop_lag.py reports that first send on its own line.
    """

    async def send_one() -> None:
        async with _client(bed.url) as client:
            client.capture("warm_up", "warm_up")

    asyncio.run(send_one())
    bed.wait_for_delivered(1)


def _client(url: str) -> AsyncOakClient:
    return AsyncOakClient(
        SECRET_KEY,
        host=url,
        flush_at=5,
        flush_interval=0,
        request_timeout=3.0,
        max_retries=3,
        # A first back-off of 1.5 to 3 s: slept with time.sleep, it would show.
        retry_initial_delay=3.0,
    )


def test_the_loop_keeps_ticking_while_the_server_is_slow(bed: HttpBed) -> None:
    _warm_up(bed)
    warm_requests = len(bed.requests)
    bed.responder = lambda request: Delay(10)

    async def scenario() -> list[float]:
        client = _client(bed.url)
        try:
            return await _lags_while_capturing(client)
        finally:
            await client.shutdown(timeout=0.2)

    lags = asyncio.run(scenario())

    measured = bed.requests[warm_requests:]
    assert measured, "no request was in flight while the loop was measured"
    assert all(r.outcome in ("pending", "aborted") for r in measured)
    assert len(lags) > MIN_TICKS
    assert max(lags) < BLOCKED_LOOP_SECONDS, f"worst lag {max(lags):.2f} s"


def test_the_loop_keeps_ticking_while_the_server_refuses_connections(
    bed: HttpBed, refused_url: str
) -> None:
    _warm_up(bed)

    async def scenario() -> tuple[list[float], int]:
        client = _client(refused_url)
        try:
            lags = await _lags_while_capturing(client)
            return lags, client.stats().retried
        finally:
            await client.shutdown(timeout=0.2)

    lags, retried = asyncio.run(scenario())

    assert retried > 0, "no connection was attempted while the loop was measured"
    assert len(lags) > MIN_TICKS
    assert max(lags) < BLOCKED_LOOP_SECONDS, f"worst lag {max(lags):.2f} s"


def test_flush_awaits_without_blocking_the_loop(bed: HttpBed) -> None:
    _warm_up(bed)
    bed.responder = lambda request: Delay(2)  # longer than the bound, within the timeout

    async def scenario() -> tuple[list[float], bool]:
        client = _client(bed.url)
        stop = asyncio.Event()
        ticker = asyncio.create_task(loop_lags(stop))
        client.capture("user_1", "page_viewed")
        delivered = await client.flush(timeout=5)
        stop.set()
        lags = await ticker
        await client.shutdown(timeout=1)
        return lags, delivered

    lags, delivered = asyncio.run(scenario())

    assert delivered
    assert len(lags) > MIN_TICKS, "the ticker did not run while flush() waited"
    assert max(lags) < BLOCKED_LOOP_SECONDS, f"worst lag {max(lags):.2f} s"
