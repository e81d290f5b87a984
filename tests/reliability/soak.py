"""A bounded soak: threads capture while the server flaps; memory, queue and counters watched.

The server runs as its own process (``oakdata serve``), so this process's RSS is the SDK's
(plus the proxy's few threads). The fault proxy cycles through phases, each ``phase_seconds``
long: up (forwarded), down (connections reset), 500 (answered by the proxy). Every second a
sample records RSS (``/proc/self/statm``) and ``stats()``. ``bench/soak.py`` prints the run;
``test_rel_soak.py`` runs a short one and asserts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oakdata import DROP_REASONS, OakClient, Stats

from .faultproxy import Action, FaultProxy, Forward, Inject, ResetBeforeForwarding
from .ingest import stored_event_uuids

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MAX_BATCH_MESSAGES = 1000  # oakdata's request bound: a batch in flight is out of the queue
PHASES: tuple[tuple[str, Action], ...] = (
    ("up", Forward()),
    ("down", ResetBeforeForwarding()),
    ("up", Forward()),
    ("500", Inject(500)),
)
SOAK_OPTIONS: dict[str, Any] = {
    "flush_at": 50,
    "flush_interval": 0.2,
    "max_queue_size": 1000,
    "max_retries": 3,
    "retry_initial_delay": 0.1,
    "request_timeout": 5.0,
}


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


@dataclass
class Sample:
    second: float
    rss: int
    queued: int
    captured: int
    delivered: int
    dropped: int
    phase: str


@dataclass
class SoakResult:
    seconds: float
    threads: int
    rate_per_thread: float
    samples: list[Sample]
    final: Stats
    shutdown_delivered: bool
    stored: int
    stored_unique: int
    uuids_returned: int  # captures that returned a uuid (were queued)
    max_queue_size: int
    notes: list[str] = field(default_factory=list)

    def rss_growth_after_warmup(self, warmup_fraction: float = 0.25) -> int:
        start = max(1, int(len(self.samples) * warmup_fraction))
        later = self.samples[start:]
        if not later:
            return 0
        return max(s.rss for s in later) - later[0].rss

    @property
    def max_queued(self) -> int:
        return max((s.queued for s in self.samples), default=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server_process(db_path: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    """``oakdata serve`` in a child process on a free port; returns it, the port and a key."""
    from oakdata_server.keys import generate_key, hash_key, lookup_id
    from oakdata_server.storage import open_storage

    storage = open_storage(str(db_path), create=True)
    try:
        project = storage.create_project("default")
        key = generate_key("secret")
        storage.create_key(project.id, "secret", lookup_id(key), hash_key(key), "soak", ())
    finally:
        storage.close()
    port = _free_port()
    env = {**os.environ, "OAK_SERVER_RATE_LIMIT_PER_SECOND": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oakdata_server.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            str(db_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30.0
    waiter = threading.Event()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return process, port, key
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_process(process)
                raise RuntimeError("the server process did not start") from None
            waiter.wait(0.05)  # polling a port: the child offers nothing to wait on


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15.0)
    if process.stderr is not None:
        process.stderr.close()


def run_soak(
    db_path: Path,
    seconds: float = 120.0,
    threads: int = 4,
    rate_per_thread: float = 250.0,
    phase_seconds: float = 3.0,
    options: dict[str, Any] | None = None,
) -> SoakResult:
    options = {**SOAK_OPTIONS, **(options or {})}
    process, port, key = start_server_process(db_path)
    proxy: FaultProxy | None = None
    client: OakClient | None = None
    stop = threading.Event()
    workers: list[threading.Thread] = []
    # Counts, not the uuids: 100,000 kept strings would be the harness's own memory growth.
    returned = [0] * threads
    samples: list[Sample] = []
    phase_name = ["up"]
    started = time.monotonic()
    try:
        proxy = FaultProxy(port).start()
        client = OakClient(key, host=proxy.url, **options)

        def capture(index: int) -> None:
            pace = threading.Event()  # never set: paces the workload, it is not a sync
            i = 0
            while not stop.is_set() and i < 10_000_000:
                uuid = client.capture(
                    f"soak-{index}-{i % 50}",
                    "soak_tick",
                    {"i": i, "thread": index, "pad": "x" * (i % 200)},
                )
                if uuid is not None:
                    returned[index] += 1
                i += 1
                pace.wait(1.0 / rate_per_thread)

        for index in range(threads):
            worker = threading.Thread(
                target=capture, args=(index,), name=f"soak-{index}", daemon=True
            )
            workers.append(worker)
            worker.start()
        ticker = threading.Event()
        next_sample = started
        phase_index = -1
        while True:
            now = time.monotonic()
            elapsed = now - started
            if elapsed >= seconds:
                break
            wanted = int(elapsed // phase_seconds) % len(PHASES)
            if wanted != phase_index:
                phase_index = wanted
                name, action = PHASES[phase_index]
                phase_name[0] = name
                proxy.set_plan(lambda _n, action=action: action)
            if now >= next_sample:
                stats = client.stats()
                samples.append(
                    Sample(
                        elapsed,
                        rss_bytes(),
                        stats.queued,
                        stats.captured,
                        stats.delivered,
                        stats.dropped_total,
                        phase_name[0],
                    )
                )
                next_sample += 1.0
            ticker.wait(min(0.1, max(0.0, next_sample - time.monotonic())))
        stop.set()
        for worker in workers:
            worker.join(timeout=30.0)
        proxy.set_plan(lambda _n: Forward())  # the end: let the last batches through
        # This flush answers for the outages' drops (False); shutdown's answer is then
        # about the last batches alone, which the healthy server must all take.
        client.flush(timeout=60.0)
        delivered = client.shutdown(timeout=60.0)
        final = client.stats()
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30.0)
        if client is not None:
            client.shutdown(timeout=30.0)
        if proxy is not None:
            proxy.close()
        stop_process(process)
    rows = stored_event_uuids(db_path)
    result = SoakResult(
        seconds=time.monotonic() - started,
        threads=threads,
        rate_per_thread=rate_per_thread,
        samples=samples,
        final=final,
        shutdown_delivered=delivered,
        stored=sum(rows.values()),
        stored_unique=len(rows),
        uuids_returned=sum(returned),
        max_queue_size=options["max_queue_size"],
    )
    if set(final.dropped) != set(DROP_REASONS):
        result.notes.append("stats().dropped does not list every reason")
    return result
