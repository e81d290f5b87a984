"""Every storage engine in one run: events/s stored through HTTP next to the engine's own
raw insert of the same rows, the CPU each process spent per event, the SDK driving the
server, and a person's and a group's page read through HTTP.

    PYTHONPATH=src:bench python bench/engines.py [--events 1000000] [--batch 1000]
        [--workers 2] [--clients 32] [--sdk-events 200000] [--sdk-processes 2]
        [--postgres URL]     # default $OAK_TEST_POSTGRES_URL; a database is made and dropped
        [--clickhouse URL]   # default $OAK_TEST_CLICKHOUSE_URL; likewise
        [--engines sqlite,postgresql,clickhouse]

Through HTTP: `oakdata serve --workers N` as its own processes; pre-built gzip bodies in the
SDK's shape (1,000 captures per request, UUIDv7 ids, 1,000 distinct ids) sent over
`--clients` kept-alive connections at once, as many app servers would. The rate is given for
each tenth of the events too, to show whether it holds as the store grows; the CPU per event
of the server, the database servers and the senders is read from /proc over the same span.
Raw: the same rows inserted by the engine's fastest plain path, one transaction per batch
of 1,000 as sent (sqlite3 executemany; PostgreSQL COPY), the dedupe rows included; for
ClickHouse, one insert of the events per batch, written as the server writes them, the write
alone timed (its dedupe is in PostgreSQL).
The server groups concurrent requests into one transaction (group_commit.py), so it can
beat the raw insert. Then `--sdk-processes` processes, each an OakClient capturing as fast
as it can (on_queue_full="block"), send `--sdk-events` events in all. Last, 100,000 events of
one person, all tagged with one group, and the first page of 100 of the person's timeline
and of the group's events through HTTP (median of 20 reads each).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

import proccpu
from ingest import make_batches, new_database, rows_of
from proccpu import CpuMeter
from serving import ADMIN_TOKEN, serving

PERSON_EVENTS = 100_000


def post_all(base: str, key: str, bodies: list[bytes], clients: int) -> float:
    """Seconds to post every body, `clients` kept-alive connections at once.

    http.client, not httpx: the clients share the machine with what they measure, and
    httpx spent several µs of CPU per event here, more than some engines."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    host, port = base.removeprefix("http://").split(":")
    shares = [bodies[n::clients] for n in range(clients)]
    failures: list[str] = []

    def send(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120.0)
        try:
            for body in share:
                connection.request("POST", "/api/oak/ingest", body, headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    failures.append(f"{response.status}: {answer[:200]!r}")
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"the server refused a body: {failures[0]}")
    return elapsed


def raw_sqlite(url: str, batches: list[list[dict[str, Any]]]) -> float:
    connection = sqlite3.connect(url, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    received = _now()
    started = time.perf_counter()
    for batch in batches:
        rows = rows_of(batch, received)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO messages (project_id, uuid, type, received_at)"
            " VALUES (1, ?, 'capture', ?)",
            [(r[0], received) for r in rows],
        )
        connection.executemany(
            "INSERT INTO events (project_id, uuid, distinct_id, event, timestamp,"
            " client_timestamp, received_at, properties, groups)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, '{}')",
            rows,
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def raw_postgres(url: str, batches: list[list[dict[str, Any]]]) -> float:
    import psycopg

    received = _now()
    with psycopg.connect(url, autocommit=True) as connection:
        started = time.perf_counter()
        for batch in batches:
            rows = rows_of(batch, received)
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy("COPY messages (project_id, uuid) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row((1, r[0]))
                with cursor.copy(
                    "COPY events (project_id, uuid, distinct_id, event, timestamp,"
                    " client_timestamp, received_at, properties, groups)"
                    " FROM STDIN"
                ) as copy:
                    for r in rows:
                        copy.write_row((1, r[0], r[1].encode(), r[2].encode(), *r[3:], "{}"))
        return time.perf_counter() - started


def raw_clickhouse(url: str, batches: list[list[dict[str, Any]]]) -> float:
    from oakdata_server.storage._events import NewEvents
    from oakdata_server.storage.clickhouse import ClickHouseEvents, split_url
    from oakdata_server.validation import ValidMessage

    received = _now()
    events = ClickHouseEvents(split_url(url)[0])
    elapsed = 0.0
    for batch in batches:
        # The columns the server hands the store, made outside the measure: the write alone.
        messages = [
            ValidMessage("capture", u, t, c, distinct_id=d, event=e, properties_json=p)
            for u, d, e, t, c, _, p in rows_of(batch, received)
        ]
        n = len(messages)
        new = NewEvents([0] * n, [1] * n, messages, [received] * n)
        started = time.perf_counter()
        events.write(None, new)
        elapsed += time.perf_counter() - started
    events.close()
    return elapsed


@contextmanager
def clickhouse_database(server: str, postgres: str) -> Iterator[str]:
    from urllib.parse import quote

    from oakdata_server.storage.clickhouse import ClickHouseEvents

    name = f"oak_bench_{uuid.uuid4().hex[:12]}"
    admin = ClickHouseEvents(server, migrate=False)
    admin.query(f"CREATE DATABASE {name}")
    try:
        with postgres_database(postgres) as identity:
            yield f"{server.rsplit('/', 1)[0]}/{name}?identity={quote(identity, safe='')}"
    finally:
        admin.query(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    import psycopg

    name = f"oak_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def bodies_of(batches: list[list[dict[str, Any]]]) -> list[bytes]:
    # Without sent_at: the bodies are built before the run, and a sent_at from then would
    # read as the client's clock running up to the run's length behind, so the server would
    # correct every timestamp (validation.py), which an SDK sending at once never makes it do.
    return [gzip.compress(json.dumps({"batch": b}).encode()) for b in batches]


def page_ms(base: str, key: str, batch: int) -> tuple[float, float]:
    """Median milliseconds for the first page of 100 of a person with PERSON_EVENTS events,
    and of a group with the same events."""
    person = [
        dict(m, distinct_id="big-person", groups={"company": "big-company"})
        for b in make_batches(PERSON_EVENTS, batch)
        for m in b
    ]
    post_all(base, key, bodies_of([person[i : i + batch] for i in range(0, len(person), batch)]), 2)
    medians = []
    with httpx.Client(timeout=60.0) as http:
        for path in ("persons/big-person/timeline", "groups/company/big-company"):
            times = []
            for _ in range(20):
                started = time.perf_counter()
                response = http.get(
                    f"{base}/api/oak/{path}",
                    params={"limit": 100},
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                )
                times.append(time.perf_counter() - started)
                response.raise_for_status()
                assert len(response.json()["events"]) == 100
            medians.append(statistics.median(times) * 1000)
    return medians[0], medians[1]


def run_engine(
    name: str,
    make_url: Callable[[str], Any],
    raw: Callable[..., float],
    args: argparse.Namespace,
    batches: list[list[dict[str, Any]]],
) -> None:
    bodies = bodies_of(batches)
    print(name, flush=True)
    with make_url("http") as url:
        key = new_database(url)
        with serving(url, args.workers) as (base, pid):
            meter = CpuMeter(
                {
                    "server": proccpu.tree(pid),
                    "PostgreSQL": proccpu.named("postgres", "/usr/lib/postgresql"),
                    "ClickHouse": proccpu.named("/usr/sbin/clickhouse-server", "clickhouse"),
                    "senders": lambda p, _c: p == os.getpid(),
                }
            )
            tenth = max(1, len(bodies) // 10)
            meter.start()
            slices = [
                post_all(base, key, bodies[i : i + tenth], args.clients)
                for i in range(0, len(bodies), tenth)
            ]
            cpu = meter.stop()
            http_seconds = sum(slices)
            sdk_rate = sdk_events_per_second(base, key, args.sdk_events, args.sdk_processes)
            person_ms, group_ms = page_ms(base, key, args.batch)
    with make_url("raw") as url:
        new_database(url)
        raw_seconds = raw(url, batches)
    http_rate, raw_rate = args.events / http_seconds, args.events / raw_seconds
    rates = [min(tenth, len(bodies) - n * tenth) * args.batch / t for n, t in enumerate(slices)]
    spent = ", ".join(f"{k} {v / args.events * 1e6:.1f}" for k, v in cpu.items() if v > 0)
    print(f"  through HTTP, {args.workers} workers, {args.clients} connections:")
    print(f"    {http_rate:>10,.0f} events/s stored")
    print(f"    by tenths: {' '.join(f'{r / 1000:.0f}k' for r in rates)}")
    print(f"    CPU per event, µs: {spent}")
    print(f"  raw engine insert, same rows:    {raw_rate:>10,.0f} events/s")
    print(f"  ratio HTTP / raw:                {http_rate / raw_rate:>10.2f}")
    print(f"  the SDK driving it ({args.sdk_processes} processes): {sdk_rate:>10,.0f} events/s")
    print(f"  timeline page of 100 of a {PERSON_EVENTS:,}-event person: {person_ms:.1f} ms")
    print(f"  page of 100 of a {PERSON_EVENTS:,}-event group:            {group_ms:.1f} ms")


def sdk_events_per_second(base: str, key: str, events: int, processes: int) -> float:
    """Events/s from the first capture until every process's shutdown() returned with all
    of its events delivered."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(processes + 1), context.Event()
    results = context.Queue()
    workers = [
        context.Process(
            target=_sdk_process, args=(base, key, events // processes, n, ready, go, results)
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=120)
    started = time.perf_counter()
    go.set()
    outcomes = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=60)
    if not all(delivered == events // processes for delivered in outcomes):
        raise RuntimeError(f"the SDK did not deliver every event: {outcomes}")
    return (events // processes) * processes / elapsed


def _sdk_process(
    base: str, key: str, events: int, n: int, ready: Any, go: Any, results: Any
) -> None:
    import oakdata

    client = oakdata.OakClient(
        secret_key=key,
        host=base,
        flush_at=1000,
        max_queue_size=100_000,
        on_queue_full="block",
        request_timeout=60.0,
    )
    ready.wait(timeout=120)
    go.wait(timeout=120)
    for i in range(events):
        client.capture(f"sdk-{n}-{i % 1000}", "page_viewed", {"path": f"/docs/{i % 50}"})
    client.shutdown(timeout=300)
    results.put(client.stats().delivered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--sdk-events", type=int, default=200_000)
    parser.add_argument("--sdk-processes", type=int, default=2)
    parser.add_argument("--engines", default="sqlite,postgresql,clickhouse")
    parser.add_argument("--postgres", default=os.environ.get("OAK_TEST_POSTGRES_URL"))
    parser.add_argument("--clickhouse", default=os.environ.get("OAK_TEST_CLICKHOUSE_URL"))
    args = parser.parse_args()
    engines = args.engines.split(",")
    batches = make_batches(args.events, args.batch)
    print(f"{args.events:,} events in batches of {args.batch}, durable commits, one run")
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory(prefix="oakdata-bench-") as directory:

            @contextmanager
            def sqlite_file(label: str) -> Iterator[str]:
                yield str(Path(directory) / f"{label}.db")

            run_engine("SQLite", sqlite_file, raw_sqlite, args, batches)
    if "postgresql" not in engines:
        pass
    elif args.postgres:
        run_engine(
            "PostgreSQL",
            lambda _label: postgres_database(args.postgres),
            raw_postgres,
            args,
            batches,
        )
    else:
        print("PostgreSQL: skipped (no --postgres and no $OAK_TEST_POSTGRES_URL)")
    if "clickhouse" not in engines:
        pass
    elif args.clickhouse and args.postgres:
        run_engine(
            "ClickHouse events, PostgreSQL identity",
            lambda _label: clickhouse_database(args.clickhouse, args.postgres),
            raw_clickhouse,
            args,
            batches,
        )
    else:
        print("ClickHouse: skipped (needs --clickhouse and --postgres, or their variables)")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


if __name__ == "__main__":
    main()
