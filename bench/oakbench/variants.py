"""capture()'s cost in the ways an app calls it: plain, inside oakdata.context, with a
before_send hook, with super properties; posthog's and segment's capture() timed in the
same process, between them, as the yardstick.

    python -m oakbench.variants            # from bench/, in bench/.venv (bench/run prints it too)

Each client queues without sending (a batch size larger than the run, a queue that holds
it), so what is timed is the call itself, on the caller's thread. Timings alternate between
the variants, round after round, and each figure is the median of the rounds: this machine
is shared, so only medians taken side by side compare.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from .event import EVENT_NAME, distinct_ids, properties

HOST = "http://127.0.0.1:9"  # never reached: nothing is sent


def _oakdata(**options: Any) -> Callable[[str, dict[str, Any]], Any]:
    import oakdata

    client = oakdata.OakClient(
        "oak_sec_bench", host=HOST, flush_at=10**9, flush_interval=0,
        max_queue_size=10**9, **options,
    )  # fmt: skip
    return lambda distinct_id, props: client.capture(distinct_id, EVENT_NAME, props)


def _posthog() -> Callable[[str, dict[str, Any]], Any]:
    import posthog

    client = posthog.Posthog(
        "phc_bench", host=HOST, flush_at=10**9, max_queue_size=10**9, flush_interval=3600
    )
    return lambda distinct_id, props: client.capture(
        EVENT_NAME, distinct_id=distinct_id, properties=props
    )


def _segment() -> Callable[[str, dict[str, Any]], Any]:
    from segment import analytics

    client = analytics.Client(
        "segment_bench", host=HOST, upload_size=10**9, max_queue_size=10**9, upload_interval=3600
    )
    return lambda distinct_id, props: client.track(distinct_id, EVENT_NAME, props)


@contextlib.contextmanager
def _in_context() -> Iterator[None]:
    import oakdata

    with oakdata.context(properties={"request_id": "r-17", "path": "/checkout"}):
        yield


def _scrub(message: dict[str, Any]) -> dict[str, Any]:
    message.get("properties", {}).pop("email", None)
    return message


VARIANTS: dict[str, tuple[Callable[[], Callable[..., Any]], Callable[[], Any]]] = {
    "posthog": (_posthog, contextlib.nullcontext),
    "segment": (_segment, contextlib.nullcontext),
    "oakdata": (_oakdata, contextlib.nullcontext),
    "oakdata in a context": (_oakdata, _in_context),
    "oakdata + before_send": (lambda: _oakdata(before_send=_scrub), contextlib.nullcontext),
    "oakdata + super_properties": (
        lambda: _oakdata(super_properties={"service": "billing", "release": "1.4.2"}),
        contextlib.nullcontext,
    ),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000, help="captures per round")
    args = parser.parse_args(argv)
    ids, props = distinct_ids(), properties()
    captures = {}
    for name, (make, _) in VARIANTS.items():
        try:
            captures[name] = make()
        except ImportError:
            print(f"{name}: not installed, left out")
    rounds: dict[str, list[float]] = {name: [] for name in captures}
    for _ in range(args.rounds):
        for name, capture in captures.items():
            with VARIANTS[name][1]():
                started = time.perf_counter()
                for i in range(args.calls):
                    capture(ids[i % len(ids)], props[i % len(props)])
                rounds[name].append((time.perf_counter() - started) / args.calls * 1e6)
    posthog = statistics.median(rounds["posthog"]) if "posthog" in rounds else None
    print(f"capture() per call, median of {args.rounds} rounds of {args.calls:,}")
    for name, values in rounds.items():
        median = statistics.median(values)
        ratio = f"  posthog / this: {posthog / median:5.1f}x" if posthog else ""
        print(f"  {name:28} {median:7.2f} us{ratio}")


if __name__ == "__main__":
    main()
