"""One measurement of one SDK, in a fresh process: ``python -m oakbench.workload '<json>'``.

The spec names the SDK, the scenario, the sink's URL and the sizes. The last line printed
is a JSON object of results. The process ends with os._exit once it has printed them, so
no SDK's exit hook (flush at exit, joins, back-off sleeps) can stretch or hang the run, and
a watchdog ends it if a scenario overruns its deadline.

Scenarios (each after a warm-up of `warmup` events delivered to a working sink, so that
connections are open and lazy imports done, as in a process that has been serving a while):

  burst       sink up: `events` timed captures, then flush; latency percentiles, delivered
              events/s (first capture to the sink answering the last event), CPU per event
  slow        the same, the sink answering each request after `latency` seconds
  down        the sink answering 503: `events` timed captures (p99 under failure)
  memory      the sink stalled (accepts, never answers in time): `events` untimed captures
              under tracemalloc; traced bytes and RSS growth per queued event
  serverless  flush_at=1 / sync mode: `iterations` times capture one event then flush
              (p50, p90 and p99 of the pairs)
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
import threading
import time
import tracemalloc
from array import array
from typing import Any

from . import sdks
from .control import SinkControl
from .event import EVENT_NAME, distinct_ids, properties

FLUSH_TIMEOUT = 300.0
STALL_SECONDS = 60.0
REACHED_WAIT = 30.0


def main() -> None:
    spec = json.loads(sys.argv[1])
    deadline = float(spec.get("deadline", 600.0))
    watchdog = threading.Timer(deadline, _overran, args=(deadline,))
    watchdog.daemon = True
    watchdog.start()
    try:
        result = run(spec)
        code = 0
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
        code = 1
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _overran(deadline: float) -> None:
    sys.stdout.write(json.dumps({"error": f"overran its {deadline:.0f} s deadline"}) + "\n")
    sys.stdout.flush()
    os._exit(3)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    sdk, scenario, host = spec["sdk"], spec["scenario"], spec["host"]
    control = SinkControl(host)
    ids, props = distinct_ids(), properties()
    if scenario == "serverless":
        return serverless(sdk, host, control, ids, props, int(spec["iterations"]))
    events = int(spec["events"])
    warmup = int(spec.get("warmup", 2000))
    client = sdks.build(sdk, host, queue_size=events + warmup + 1000)
    control.reset("up", target=warmup)
    for i in range(warmup):
        sdks.capture_one(client, ids[i % len(ids)], props[i % len(props)])
    client.flush(FLUSH_TIMEOUT)
    warm = _wait_reached(control)
    if warm["events"] < warmup:
        raise RuntimeError(f"warm-up: the sink counted {warm['events']} of {warmup} events")
    result: dict[str, Any] = {
        "sdk": sdk,
        "scenario": scenario,
        "version": client.version,
        "orjson_installed": importlib.util.find_spec("orjson") is not None,
    }
    if scenario == "memory":
        control.reset("slow", latency=STALL_SECONDS)
        result.update(memory(client, ids, props, events))
        return result
    if scenario == "down":
        control.reset("down")
    elif scenario == "slow":
        control.reset("slow", latency=float(spec["latency"]), target=events)
    elif scenario == "burst":
        control.reset("up", target=events)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    cpu_start = time.process_time()
    started = time.monotonic()
    latencies = timed_captures(client, ids, props, events)
    captured = time.monotonic()
    result.update(percentiles(latencies))
    result["capture_seconds"] = captured - started
    if scenario == "down":
        result["sink"] = control.stats()
        return result
    flushed_ok = client.flush(FLUSH_TIMEOUT)
    cpu = time.process_time() - cpu_start
    stats = _wait_reached(control)
    if stats["reached_at"] is None:
        raise RuntimeError(f"the sink counted {stats['events']} of {events} events")
    result.update(
        {
            "flush_returned": flushed_ok,
            "delivered_eps": events / (stats["reached_at"] - started),
            "cpu_seconds": cpu,
            "cpu_per_100k": cpu / events * 100_000,
            "sink": stats,
        }
    )
    return result


def _wait_reached(control: SinkControl) -> dict[str, Any]:
    """The sink's stats once its target is reached (bounded wait)."""
    give_up = time.monotonic() + REACHED_WAIT
    while True:
        stats = control.stats()
        if stats["reached_at"] is not None or time.monotonic() > give_up:
            return stats
        time.sleep(0.01)


def timed_captures(
    client: sdks.Client, ids: list[str], props: list[dict[str, Any]], n: int
) -> array[int]:
    latencies = array("q", bytes(8 * n))
    clock = time.perf_counter_ns
    capture = client.capture
    count = len(ids)
    name = EVENT_NAME
    # Two copies of the loop, so that no wrapper call is timed along with the SDK's.
    if client.keyword_style:
        for i in range(n):
            k = i % count
            distinct_id, props_k = ids[k], props[k]
            t0 = clock()
            capture(name, distinct_id=distinct_id, properties=props_k)
            latencies[i] = clock() - t0
    else:
        for i in range(n):
            k = i % count
            distinct_id, props_k = ids[k], props[k]
            t0 = clock()
            capture(distinct_id, name, props_k)
            latencies[i] = clock() - t0
    return latencies


def percentiles(latencies: array[int]) -> dict[str, float]:
    ordered = sorted(latencies)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000.0  # ns -> µs

    return {
        "p50_us": at(0.50),
        "p90_us": at(0.90),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": ordered[-1] / 1000.0,
        "mean_us": sum(ordered) / n / 1000.0,
    }


def memory(
    client: sdks.Client, ids: list[str], props: list[dict[str, Any]], n: int
) -> dict[str, Any]:
    gc.collect()
    rss_before = _rss_bytes()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    started = time.monotonic()
    count = len(ids)
    for i in range(n):
        sdks.capture_one(client, ids[i % count], props[i % count])
    elapsed = time.monotonic() - started
    traced_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss_after = _rss_bytes()
    return {
        "queued_events": n,
        "traced_bytes_per_event": (traced_after - traced_before) / n,
        "rss_bytes_per_event": (rss_after - rss_before) / n,
        "capture_seconds": elapsed,
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def serverless(
    sdk: str,
    host: str,
    control: SinkControl,
    ids: list[str],
    props: list[dict[str, Any]],
    iterations: int,
) -> dict[str, Any]:
    client = sdks.build(sdk, host, queue_size=1000, serverless=True)
    warmup = 20
    control.reset("up", target=warmup + iterations)
    timings = array("q", bytes(8 * iterations))
    clock = time.perf_counter_ns
    for i in range(warmup + iterations):
        t0 = clock()
        sdks.capture_one(client, ids[i % len(ids)], props[i % len(props)])
        client.flush(10.0)
        if i >= warmup:
            timings[i - warmup] = clock() - t0
    stats = _wait_reached(control)
    if stats["reached_at"] is None:
        raise RuntimeError(f"the sink counted {stats['events']} of {warmup + iterations}")
    ordered = sorted(timings)
    return {
        "sdk": sdk,
        "scenario": "serverless",
        "version": client.version,
        "p50_ms": ordered[len(ordered) // 2] / 1e6,
        "p90_ms": ordered[int(len(ordered) * 0.9)] / 1e6,
        "p99_ms": ordered[int(len(ordered) * 0.99)] / 1e6,
        "sink": stats,
    }


if __name__ == "__main__":
    main()
