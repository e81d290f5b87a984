"""Exactly-once scenarios: the SDK, the fault proxy and the real ingest server, end to end.

Each scenario captures events through a client, faults injected on the way, then compares the
uuids ``capture()`` returned with the rows in the SQLite file. The tests in
``test_rel_exactly_once.py`` assert on the result; ``bench/exactly_once.py`` prints the table.
No pytest here, so that the bench can import it.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines import stored_event_uuids, stored_message_uuids
from oakdata import OakClient, Stats

from .faultproxy import (
    Action,
    FaultProxy,
    Forward,
    Hop,
    Inject,
    LoseResponse,
    Plan,
    ResetBeforeForwarding,
)
from .ingest import IngestServer

SHUTDOWN_TIMEOUT_SECONDS = 30.0
CONDITION_TIMEOUT_SECONDS = 30.0

# Retries fast enough for a test, many enough that an injected fault never exhausts them:
# a batch meets at most a handful of faults in a row in every scenario below.
FAULT_OPTIONS: dict[str, Any] = {
    "flush_interval": 0,
    "max_retries": 10,
    "retry_initial_delay": 0.02,
    "request_timeout": 5.0,
}

# The restart scenario: the server is down RESTART_GAP_SECONDS. With a first back-off of
# 0.2 s, doubled each retry, 8 retries wait at least 0.1+0.2+...+12.8 = 25.5 s in all, so a
# batch caught by the gap is retried through it with a wide margin, and the wait after the
# server returns is at most one step (under 3.2 s for a gap this short).
RESTART_GAP_SECONDS = 1.5
RESTART_OPTIONS: dict[str, Any] = {
    "flush_at": 20,
    "flush_interval": 0.05,
    "max_retries": 8,
    "retry_initial_delay": 0.2,
    "request_timeout": 5.0,
}


@dataclass
class Result:
    scenario: str
    client: str
    captured: int
    stored: int  # distinct captured uuids with a row in `events`
    duplicated: int  # rows beyond the first for a uuid
    lost: int  # captured uuids with no row
    unexpected: int  # rows whose uuid no capture() returned
    faults: int  # requests the proxy (or the restart) disturbed
    stored_then_lost: int  # of those, answers lost after the server had stored the batch
    server_duplicates: int  # messages the server answered as already stored
    retried: int
    stats: Stats
    delivered_in_time: bool  # shutdown(timeout) said everything was delivered
    seconds: float
    hop_log: list[Hop] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def stats_agree(self) -> bool:
        s = self.stats
        return (
            s.queued == 0
            and s.dropped_total == 0
            and s.captured == s.delivered + s.dropped_total
            and s.captured == self.captured
        )

    @property
    def exactly_once(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.stored == self.captured
            and self.stats_agree
            and self.delivered_in_time
        )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll a condition that offers nothing to wait on (rows in a file), bounded by timeout."""
    deadline = time.monotonic() + timeout
    stop = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        stop.wait(interval)
    return True


# ---------------------------------------------------------------------- workloads


def capture_in_chunks_sync(
    url: str, key: str, count: int, chunk: int, tag: str, options: dict[str, Any]
) -> tuple[list[str], Stats, bool]:
    """Capture ``count`` events, flushing every ``chunk`` so that each chunk is one request."""
    client = OakClient(key, host=url, flush_at=max(chunk + 1, 2), **options)
    uuids: list[str] = []
    try:
        for start in range(0, count, chunk):
            for i in range(start, min(start + chunk, count)):
                uuid = client.capture(f"{tag}-user-{i % 7}", "rel_event", {"i": i, "tag": tag})
                if uuid is not None:
                    uuids.append(uuid)
            client.flush(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        delivered = client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    finally:
        client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    return uuids, client.stats(), delivered


def capture_in_chunks_async(
    url: str, key: str, count: int, chunk: int, tag: str, options: dict[str, Any]
) -> tuple[list[str], Stats, bool]:
    """The same workload through AsyncOakClient, in a loop of its own."""
    from oakdata import AsyncOakClient

    async def run() -> tuple[list[str], Stats, bool]:
        client = AsyncOakClient(key, host=url, flush_at=max(chunk + 1, 2), **options)
        uuids: list[str] = []
        try:
            for start in range(0, count, chunk):
                for i in range(start, min(start + chunk, count)):
                    uuid = client.capture(f"{tag}-user-{i % 7}", "rel_event", {"i": i, "tag": tag})
                    if uuid is not None:
                        uuids.append(uuid)
                await client.flush(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            delivered = await client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        finally:
            await client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        return uuids, client.stats(), delivered

    return asyncio.run(run())


WORKLOADS = {"sync": capture_in_chunks_sync, "async": capture_in_chunks_async}


def _result(
    scenario: str,
    client: str,
    db_path: Path | str,
    uuids: list[str],
    stats: Stats,
    delivered: bool,
    started: float,
    proxy: FaultProxy | None,
) -> Result:
    rows = stored_event_uuids(str(db_path))
    captured = set(uuids)
    hops = proxy.snapshot() if proxy is not None else []
    faults = sum(1 for hop in hops if hop.action != Forward.__name__)
    stored_then_lost = sum(
        1 for hop in hops if hop.action == LoseResponse.__name__ and hop.upstream_status == 200
    )
    result = Result(
        scenario=scenario,
        client=client,
        captured=len(uuids),
        stored=sum(1 for uuid in captured if rows[uuid] > 0),
        duplicated=sum(count - 1 for count in rows.values() if count > 1),
        lost=sum(1 for uuid in captured if rows[uuid] == 0),
        unexpected=sum(1 for uuid in rows if uuid not in captured),
        faults=faults,
        stored_then_lost=stored_then_lost,
        server_duplicates=sum(hop.duplicates for hop in hops),
        retried=stats.retried,
        stats=stats,
        delivered_in_time=delivered,
        seconds=time.monotonic() - started,
        hop_log=hops,
    )
    if len(captured) != len(uuids):
        result.notes.append(f"capture() returned {len(uuids) - len(captured)} repeated uuids")
    messages = stored_message_uuids(str(db_path))
    if messages != set(rows):
        result.notes.append("the messages table and the events table disagree")
    return result


def run_through_proxy(
    scenario: str,
    client: str,
    db_path: Path | str,
    plan: Plan,
    *,
    count: int = 1000,
    chunk: int = 20,
    options: dict[str, Any] | None = None,
) -> Result:
    """A fresh server and proxy; ``count`` events captured through ``plan``'s faults."""
    started = time.monotonic()
    server = IngestServer(db_path)
    server.start()
    proxy: FaultProxy | None = None
    try:
        proxy = FaultProxy(server.port, plan).start()
        uuids, stats, delivered = WORKLOADS[client](
            proxy.url, server.secret_key, count, chunk, scenario, options or FAULT_OPTIONS
        )
    finally:
        if proxy is not None:
            proxy.close()
        server.stop()
    return _result(scenario, client, db_path, uuids, stats, delivered, started, proxy)


# ---------------------------------------------------------------------- plans


def seeded(probability: float, fault: Action, seed: int) -> Plan:
    """Each request meets ``fault`` with this probability (reproducibly), else is forwarded.

    The first request always goes through, so every run stores something before faults start.
    """
    rng = random.Random(seed)
    draws: dict[int, bool] = {}
    lock = threading.Lock()

    def plan(number: int) -> Action:
        with lock:
            if number not in draws:
                draws[number] = rng.random() < probability
            return fault if number > 0 and draws[number] else Forward()

    return plan


def burst(first: int, length: int, fault: Action) -> Plan:
    """Requests first .. first+length-1 meet ``fault``; every other one is forwarded."""

    def plan(number: int) -> Action:
        return fault if first <= number < first + length else Forward()

    return plan


def mixed(seed: int) -> Plan:
    """Every kind of fault at once, a third of the requests in all."""
    rng = random.Random(seed)
    faults: list[Action] = [
        LoseResponse(),
        ResetBeforeForwarding(),
        Inject(500),
        Inject(503),
        Inject(429, {"Retry-After": "0"}),
    ]
    lock = threading.Lock()
    drawn: dict[int, Action] = {}

    def plan(number: int) -> Action:
        with lock:
            if number not in drawn:
                drawn[number] = rng.choice(faults) if rng.random() < 0.33 else Forward()
            return drawn[number] if number > 0 else Forward()

    return plan


LOST_RESPONSES = "responses lost after storing"
RESETS = "connections reset before forwarding"
BURST_500 = "burst of 8 x 500"
BURST_429 = "burst of 3 x 429, Retry-After: 1"
MIXED = "all of the above, mixed"
RESTART = "server restarted mid-stream"

PLANS: dict[str, Callable[[], Plan]] = {
    LOST_RESPONSES: lambda: seeded(0.3, LoseResponse(), seed=1),
    RESETS: lambda: seeded(0.3, ResetBeforeForwarding(), seed=2),
    BURST_500: lambda: burst(3, 8, Inject(500)),
    BURST_429: lambda: burst(3, 3, Inject(429, {"Retry-After": "1"})),
    MIXED: lambda: mixed(seed=3),
}


def run_proxy_scenario(name: str, client: str, db_path: Path | str) -> Result:
    return run_through_proxy(name, client, db_path, PLANS[name]())


# ---------------------------------------------------------------------- restart


def run_restart(
    db_path: Path | str, *, rate_per_second: float = 400.0, before: int = 200, after: int = 200
) -> Result:
    """Capture steadily from a thread while the server stops, stays down, and starts again.

    The client talks to the server directly (no proxy): while it is down, connecting is
    refused, as it would be for a restarting process.
    """
    started = time.monotonic()
    server = IngestServer(db_path)
    server.start()
    client = OakClient(server.secret_key, host=server.url, **RESTART_OPTIONS)
    uuids: list[str] = []
    uuids_lock = threading.Lock()
    stop_capturing = threading.Event()
    notes: list[str] = []

    def capture_steadily() -> None:
        pace = threading.Event()  # never set: wait() paces the workload, it is not a sync
        i = 0
        while not stop_capturing.is_set() and i < 100_000:
            uuid = client.capture(f"restart-user-{i % 7}", "rel_event", {"i": i})
            if uuid is not None:
                with uuids_lock:
                    uuids.append(uuid)
            i += 1
            pace.wait(1.0 / rate_per_second)

    def captured() -> int:
        with uuids_lock:
            return len(uuids)

    capturer = threading.Thread(target=capture_steadily, name="restart-capturer", daemon=True)
    capturer.start()
    delivered = False
    try:
        if not wait_until(
            lambda: len(stored_event_uuids(str(db_path))) >= before, CONDITION_TIMEOUT_SECONDS
        ):
            notes.append("the server never stored the first events")
        server.stop()
        at_stop = captured()
        threading.Event().wait(RESTART_GAP_SECONDS)  # deliberate: the outage itself
        during_gap = captured() - at_stop
        server.start()  # same port, same file
        mark = captured()
        if not wait_until(lambda: captured() >= mark + after, CONDITION_TIMEOUT_SECONDS):
            notes.append("capturing stalled after the restart")
        notes.append(f"{during_gap} events captured while the server was down")
        stop_capturing.set()
        capturer.join(timeout=CONDITION_TIMEOUT_SECONDS)
        delivered = client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    finally:
        stop_capturing.set()
        capturer.join(timeout=CONDITION_TIMEOUT_SECONDS)
        client.shutdown(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        server.stop()
    result = _result(RESTART, "sync", db_path, uuids, client.stats(), delivered, started, None)
    result.faults = 1
    result.notes.extend(notes)
    return result
