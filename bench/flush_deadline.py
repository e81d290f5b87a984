"""How close to its budget a Lambda handler's flush returns when the server never answers in
time: the figure tests/recipes/test_aws_lambda.py only bounds loosely, to pass on a busy
machine.

    .venv/bin/python bench/flush_deadline.py [--runs 5] [--remaining 1.5]

A handler decorated with oakdata.serverless.flush_on_return (5 s timeout, 0.5 s margin, the
defaults) captures one event and returns; its context says `remaining` seconds are left, so
the flush may take `remaining - margin` seconds. The server on 127.0.0.1 answers after 20 s.
For each client, the handler's median and worst time and its worst overrun past the budget:
the invocation is in time while the overrun stays below the margin.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from loop_lag import serve, stop_serving

SERVER_DELAY = 20.0
Closer = Callable[[], object]


class LambdaContext:
    def __init__(self, remaining_seconds: float) -> None:
        self._deadline = time.monotonic() + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handlers(url: str) -> list[tuple[str, Callable[[dict[str, Any], Any], None], Closer]]:
    from oakdata import AsyncOakClient, OakClient
    from oakdata.serverless import flush_on_return

    options: dict[str, Any] = {
        "host": url,
        "flush_at": 1000,
        "flush_interval": 0,
        "request_timeout": SERVER_DELAY * 2,  # no request ends during the runs
    }
    oak = OakClient("oak_sec_flush_deadline", **options)
    async_oak = AsyncOakClient("oak_sec_flush_deadline", **options)

    @flush_on_return(oak)
    def handler(event: dict[str, Any], context: Any) -> None:
        oak.capture("user_1", "report_generated")

    @flush_on_return(async_oak)
    async def async_main(event: dict[str, Any], context: Any) -> None:
        async_oak.capture("user_1", "report_generated")

    def async_handler(event: dict[str, Any], context: Any) -> None:
        asyncio.run(async_main(event, context))  # a loop per invocation, as the runtime does

    return [
        ("OakClient", handler, lambda: oak.shutdown(timeout=0.5)),
        ("AsyncOakClient", async_handler, lambda: asyncio.run(async_oak.shutdown(timeout=0.5))),
    ]


def main() -> None:
    from oakdata.serverless import DEFAULT_MARGIN

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="invocations per client")
    parser.add_argument("--remaining", type=float, default=1.5, help="seconds the context has")
    args = parser.parse_args()
    budget = args.remaining - DEFAULT_MARGIN

    server, url = serve(SERVER_DELAY)
    print(f"{args.remaining:g} s remaining, {DEFAULT_MARGIN:g} s margin: {budget:g} s budget")
    print(f"{'client':16} {'runs':>4} {'median s':>9} {'worst s':>8} {'worst overrun ms':>17}")
    try:
        for name, handler, close in _handlers(url):
            took = []
            for _ in range(args.runs):
                started = time.monotonic()
                handler({}, LambdaContext(args.remaining))
                took.append(time.monotonic() - started)
            overrun = (max(took) - budget) * 1000
            print(
                f"{name:16} {len(took):4d} {statistics.median(took):9.3f} {max(took):8.3f} "
                f"{overrun:17.1f}"
            )
            close()
    finally:
        stop_serving(server)


if __name__ == "__main__":
    main()
