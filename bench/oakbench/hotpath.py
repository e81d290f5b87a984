"""Where oakdata's capture() and its send path spend their time: ``python -m oakbench.hotpath``.

Not part of the table: a profiling aid for whoever works on the hot path. It times the
pieces of one capture (message building, ids, timestamp, JSON encoding, counters, the
queue) with timeit, runs cProfile over a capture loop, and times the send path's steps for
one batch (body assembly, gzip at each level, and ISA-L and orjson when installed, for
comparison).
It reaches into oakdata's private modules, so it follows their current names.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import pstats
import timeit
import zlib
from collections.abc import Callable
from typing import Any

from .event import EVENT_NAME, distinct_ids, properties


def per_call_us(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    """Best of `repeat` batches of `number` calls: the cost without the machine's noise."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def capture_pieces(number: int) -> list[tuple[str, float]]:
    import oakdata
    from oakdata import _capture, _encoding, _ids, _message

    ids, props = distinct_ids(), properties()
    p0, id0 = props[0], ids[0]
    message = _message.capture(id0, EVENT_NAME, p0, None, None, None)
    encoder = _encoding.Encoder()
    client = oakdata.OakClient(
        "oak_sec_profile",
        host="http://127.0.0.1:9",  # never contacted: no flush happens while timing
        flush_at=10_000_000,
        flush_interval=0,
        max_queue_size=10_000_000,
    )
    encode = functools.partial(_capture.encode_capture, encoder)
    head = '{"type":"capture","properties":'
    tail = _capture.AFTER_PROPERTIES
    data = client._encoder.encode(message)
    rows = [
        ("capture() whole call", per_call_us(lambda: client.capture(id0, EVENT_NAME, p0), number)),
        (
            "  the message's bytes (_capture.encode_capture)",
            per_call_us(lambda: encode(id0, EVENT_NAME, p0, None, None, None), number),
        ),
        ("    _ids.new_ids() (uuid + timestamp)", per_call_us(_ids.new_ids, number)),
        (
            "    encode_within (properties)",
            per_call_us(lambda: encoder.encode_within(head, p0, tail), number),
        ),
        (
            "  the queue's put (lock + append)",
            per_call_us(lambda: client._worker.put(data), number),
        ),
        (
            "  for comparison: build the message dict",
            per_call_us(lambda: _message.capture(id0, EVENT_NAME, p0, None, None, None), number),
        ),
        (
            "  for comparison: Encoder.encode (the whole dict)",
            per_call_us(lambda: encoder.encode(message), number),
        ),
    ]
    plain = json.JSONEncoder(separators=(",", ":"))
    rows.append(
        (
            "    json.JSONEncoder().encode (the whole dict)",
            per_call_us(lambda: plain.encode(message), number),
        )
    )
    try:
        import orjson

        rows.append(
            (
                "    orjson.dumps (the whole dict)",
                per_call_us(lambda: orjson.dumps(message), number),
            )
        )
    except ImportError:
        rows.append(("    orjson.dumps: orjson not installed", float("nan")))
    client.shutdown(0.1)
    return rows


def profile_capture(events: int) -> str:
    import oakdata

    ids, props = distinct_ids(), properties()
    client = oakdata.OakClient(
        "oak_sec_profile",
        host="http://127.0.0.1:9",
        flush_at=10_000_000,
        flush_interval=0,
        max_queue_size=10_000_000,
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(events):
        client.capture(ids[i % 1000], EVENT_NAME, props[i % 1000])
    profiler.disable()
    client.shutdown(0.1)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def send_pieces(batch_size: int) -> list[tuple[str, str]]:
    from oakdata import _batching, _encoding, _message

    ids, props = distinct_ids(), properties()
    encoder = _encoding.Encoder()
    messages = [
        encoder.encode(
            _message.capture(ids[i % 1000], EVENT_NAME, props[i % 1000], None, None, None)
        )
        for i in range(batch_size)
    ]
    body = _batching.build_body(messages, "2026-11-28T21:31:24.123456Z")
    rows = [
        (f"event size (bytes, mean of {batch_size})", f"{len(body) / batch_size:.0f}"),
        (
            "build_body per event (µs)",
            f"{per_call_us(lambda: _batching.build_body(messages, 'x'), 20) / batch_size:.3f}",
        ),
    ]
    for level in (0, 1, 3, 6, 9):

        def pack(level: int = level) -> bytes:
            packer = zlib.compressobj(level, zlib.DEFLATED, 31)
            return packer.compress(body) + packer.flush()

        size = len(pack())
        cost = per_call_us(pack, 5, repeat=3) / batch_size
        rows.append(
            (
                f"gzip level {level}: µs per event, bytes per event",
                f"{cost:.2f} µs, {size / batch_size:.0f} B ({size / len(body):.1%})",
            )
        )
    # What gzip_compress uses: ISA-L's level 1 with the speedups extra, else zlib's.
    from oakdata import _compression

    isal = _compression.isal_deflate()
    if isal is not None:
        size = len(isal(body, 31))
        cost = per_call_us(lambda: isal(body, 31), 5, repeat=3) / batch_size
        rows.append(
            (
                f"ISA-L (isal) level {_compression.ISAL_LEVEL}: µs per event, bytes per event",
                f"{cost:.2f} µs, {size / batch_size:.0f} B ({size / len(body):.1%})",
            )
        )
    answer = json.dumps({"accepted": batch_size, "duplicates": 0, "rejected": []}).encode()
    rows.append(
        (
            "parse the 2xx answer (µs per batch)",
            f"{per_call_us(lambda: json.loads(answer), 1000):.2f}",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing batch")
    parser.add_argument("--batch", type=int, default=1000, help="events per batch, send path")
    args = parser.parse_args(argv)
    print("capture() pieces, best of 5 (µs per call):")
    for label, value in capture_pieces(args.number):
        print(f"  {label:<52} {value:8.3f}")
    print("\nsend path, per event of a batch of", args.batch)
    for label, text in send_pieces(args.batch):
        print(f"  {label:<52} {text}")
    print("\ncProfile of 100,000 captures (sorted by own time):")
    print(profile_capture(100_000))


if __name__ == "__main__":
    main()
