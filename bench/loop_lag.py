"""How late the event loop wakes while AsyncOakClient sends to a healthy, a slow and a
refusing server, and while `await flush()` waits on the slow one: median, 99th percentile
and worst lag of a 5 ms ticker.

    .venv/bin/python bench/loop_lag.py [--seconds 3] [--delay 2] [--rate 200]

A ticker coroutine sleeps TICK seconds again and again; its lag is how much later than asked
it wakes. The app captures `rate` events a second meanwhile (flush_at=20, so requests leave
all along). "no client" is the same ticker with nothing else on the loop: the machine's floor.
"first send" is the process's first client, whose first request imports the transport.
"awaiting flush()" captures one event and awaits flush(timeout=seconds) on the slow server.
These are the figures that tests/recipes/test_loop_lag.py and tests/sdk/test_async_client.py
only bound loosely (no wake later than 1 s) so as to pass on a busy machine.
The slow server and the refused port run on 127.0.0.1 inside this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TICK = 0.005


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.0
    stopping = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.stopping.wait(self.delay):
            self.close_connection = True
            return
        body = json.dumps({"accepted": 0, "duplicates": 0, "rejected": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up on a slow answer leave broken pipes behind


def serve(delay: float) -> tuple[_Server, str]:
    """A server on 127.0.0.1 that answers each POST with a 200 after delay seconds."""
    handler = type("Handler", (_SlowHandler,), {"delay": delay})
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stop_serving(*servers: _Server) -> None:
    _SlowHandler.stopping.set()  # answers still being delayed end at once
    for server in servers:
        server.shutdown()
        server.server_close()


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _measure(
    url: str | None, seconds: float, rate: float, flushing: bool = False
) -> tuple[list[float], str]:
    from oakdata import AsyncOakClient

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def ticker() -> list[float]:
        lags = []
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(TICK)
            lags.append(loop.time() - before - TICK)
        return lags

    client = None
    if url is not None:
        client = AsyncOakClient(
            "oak_sec_loop_lag",
            host=url,
            flush_at=20,
            flush_interval=0,
            request_timeout=10.0,
            max_retries=3,
            retry_initial_delay=0.1,
        )
    task = asyncio.create_task(ticker())
    if client is not None and flushing:
        client.capture("user_0", "page_viewed", {"path": "/pricing"})
        await client.flush(timeout=seconds)
    else:
        end = loop.time() + seconds
        n = 0
        while loop.time() < end:
            if client is not None:
                client.capture(f"user_{n % 100}", "page_viewed", {"path": "/pricing", "n": n})
            n += 1
            await asyncio.sleep(1 / rate)
    stop.set()
    lags = await task
    note = ""
    if client is not None:
        stats = client.stats()
        note = (
            f"captured {stats.captured}, delivered {stats.delivered}, "
            f"retried {stats.retried}, dropped {stats.dropped_total}"
        )
        await client.shutdown(timeout=0.5)
    return lags, note


def _ms(value: float) -> str:
    return f"{value * 1000:8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario")
    parser.add_argument("--delay", type=float, default=2.0, help="the slow server's answer time")
    parser.add_argument("--rate", type=float, default=200.0, help="events captured per second")
    args = parser.parse_args()

    healthy, healthy_url = serve(0.0)
    slow, slow_url = serve(args.delay)
    scenarios = [
        ("no client", None, False),
        # The process's first send imports the HTTP transport (ssl, http.client) on the loop.
        ("healthy server, first send", healthy_url, False),
        ("healthy server", healthy_url, False),
        (f"slow server ({args.delay:g} s answers)", slow_url, False),
        ("slow server, awaiting flush()", slow_url, True),
        ("refused port", _refused_url(), False),
    ]
    print(f"ticker {TICK * 1000:g} ms, {args.seconds:g} s per scenario, {args.rate:g} events/s")
    print(f"{'scenario':32} {'ticks':>6} {'median ms':>9} {'p99 ms':>8} {'max ms':>8}  client")
    try:
        for name, url, flushing in scenarios:
            lags, note = asyncio.run(_measure(url, args.seconds, args.rate, flushing))
            p99 = statistics.quantiles(lags, n=100)[98]
            print(
                f"{name:32} {len(lags):6d} {_ms(statistics.median(lags)):>9} "
                f"{_ms(p99)} {_ms(max(lags))}  {note}"
            )
    finally:
        stop_serving(healthy, slow)


if __name__ == "__main__":
    main()
