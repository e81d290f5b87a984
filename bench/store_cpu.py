"""The CPU a storage engine costs per event, without HTTP: the server's own (its thread,
building and sending the rows) and the database servers', for groups of 20,000 captures as
group_commit.py makes them under load.

    PYTHONPATH=src:bench python bench/store_cpu.py [--engines postgresql,clickhouse]
        [--users 1000] [--groups 10]
        [--postgres URL] [--clickhouse URL]   # default $OAK_TEST_POSTGRES_URL, ..._CLICKHOUSE_URL

Every user has sent an event before the measured groups (so their persons exist, as in a
running installation), and the measured events are new. `--users` says how many distinct
ids the groups hold: how much the engine's work on persons costs shows with many. Requests
are decoded by the fast path first, outside the measure (bench/ingest_cpu.py measures it).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from datetime import datetime, timezone

import proccpu
from engines import bodies_of, clickhouse_database, postgres_database
from ingest import make_batches
from oakdata_server.fastpath import fast_validate
from oakdata_server.storage import IngestRequest, open_storage

GROUP = 20  # requests of 1,000 events in a group: group_commit.py's largest


def requests_of(events: int, users: int) -> list[IngestRequest]:
    now = datetime.now(timezone.utc)
    requests = []
    for body in bodies_of(make_batches(events, 1000, users)):
        messages = fast_validate(gzip.decompress(body), 1000, False, now)
        assert messages is not None, "the fast path refused the bench's own requests"
        requests.append(IngestRequest(messages, now, True))
    return requests


def measure(url: str, users: int, groups: int) -> tuple[float, float]:
    """(the server thread's µs of CPU per event, the database servers' µs per event)."""
    storage = open_storage(url, create=True)
    try:
        project = storage.create_project("bench").id
        warm = requests_of(max(users, GROUP * 1000), users)  # every user has a person
        for start in range(0, len(warm), GROUP):
            storage.ingest_many(project, warm[start : start + GROUP])
        measured = requests_of(groups * GROUP * 1000, users)
        meter = proccpu.CpuMeter(
            {"databases": proccpu.named("postgres", "/usr/lib/postgresql", "/usr/sbin/clickhouse")}
        )
        meter.start()
        began = time.thread_time()
        for start in range(0, len(measured), GROUP):
            storage.ingest_many(project, measured[start : start + GROUP])
        server = time.thread_time() - began
        databases = meter.stop()["databases"]
    finally:
        storage.close()
    events = groups * GROUP * 1000
    return server / events * 1e6, databases / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="postgresql,clickhouse")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("OAK_TEST_POSTGRES_URL"))
    parser.add_argument("--clickhouse", default=os.environ.get("OAK_TEST_CLICKHOUSE_URL"))
    args = parser.parse_args()
    events = args.groups * GROUP * 1000
    print(f"{args.users:,} users, {events:,} events in groups of {GROUP * 1000:,}", end="")
    print(f", median of {args.runs} runs")
    for engine in args.engines.split(","):
        results = []
        for _ in range(args.runs):
            database = (
                postgres_database(args.postgres)
                if engine == "postgresql"
                else clickhouse_database(args.clickhouse, args.postgres)
            )
            with database as url:
                results.append(measure(url, args.users, args.groups))
        server = statistics.median(r[0] for r in results)
        databases = statistics.median(r[1] for r in results)
        print(f"{engine:>10}: server {server:5.1f} µs/event, database servers {databases:5.1f}")


if __name__ == "__main__":
    main()
