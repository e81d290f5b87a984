"""The machine's own tail, to read capture()'s against: ``python -m oakbench.reference N``.

A task of constant size and a few microseconds, the bench properties through the json
package's C encoder (no SDK, nothing queued, no other thread), timed call by call as
workload.timed_captures times capture(), in a fresh process. Its p99 against its p50 is
what this machine does to any task of that size: timer interrupts, the hypervisor, the
other core's work. A capture() p99 near this one is the machine's, not the SDK's.
Prints one JSON object: p50_us, p99_us.
"""

from __future__ import annotations

import json
import sys
import time
from array import array

from .event import properties


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    props = properties()
    encode = json.JSONEncoder(separators=(",", ":")).encode
    latencies = array("q", bytes(8 * n))
    clock = time.perf_counter_ns
    count = len(props)
    for i in range(n):
        value = props[i % count]
        t0 = clock()
        encode(value)
        latencies[i] = clock() - t0
    ordered = sorted(latencies)
    p50, p99 = ordered[n // 2] / 1000, ordered[int(n * 0.99)] / 1000
    print(json.dumps({"p50_us": p50, "p99_us": p99}))


if __name__ == "__main__":
    main()
