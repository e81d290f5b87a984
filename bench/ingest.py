"""Events per second ingested into SQLite through POST /api/oak/ingest, next to the rate at
which sqlite3 itself inserts the same rows on this machine, measured in one run, in the
durable default (synchronous=FULL: a 2xx survives power loss) and in the fast mode
(OAK_SERVER_DURABLE=0, synchronous=NORMAL: a 2xx survives the process dying only).

    .venv/bin/python bench/ingest.py [--events 40000] [--batch 500]

The server runs as its own process (`oakdata serve`), so the client building and gzipping
requests does not share a GIL with it. The raw side inserts the same rows (the de-duplication
row and the event row) into the same schema with the same pragmas, one transaction per batch,
as the server does; the gap between the two is what HTTP, gzip, JSON and validation cost.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from oakdata._ids import new_ids
from oakdata_server.keys import generate_key, hash_key, lookup_id
from oakdata_server.storage import open_storage
from serving import serving


def make_batches(events: int, batch_size: int, users: int = 1000) -> list[list[dict[str, Any]]]:
    """The SDK's shape: its time-ordered UUIDv7 ids (as oak.js's), `users` users in turn."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    messages = [
        {
            "type": "capture",
            "uuid": new_ids()[0],
            "timestamp": stamp,
            "distinct_id": f"user-{i % users}",
            "event": "page_viewed",
            "properties": {"path": f"/docs/{i % 50}", "$lib": "bench", "$lib_version": "0"},
        }
        for i in range(events)
    ]
    return [messages[i : i + batch_size] for i in range(0, events, batch_size)]


def rows_of(batch: list[dict[str, Any]], received: str) -> list[tuple[Any, ...]]:
    """The event columns a raw insert writes for `batch`, as the server would store them."""
    return [
        (
            m["uuid"],
            m["distinct_id"],
            m["event"],
            m["timestamp"],
            m["timestamp"],
            received,
            json.dumps(m["properties"], separators=(",", ":")),
        )
        for m in batch
    ]


def new_database(url: str) -> str:
    """A new database at `url` with a project and a secret key; the key."""
    storage = open_storage(url, create=True)
    key = generate_key("secret")
    project = storage.create_project("default")
    storage.create_key(project.id, "secret", lookup_id(key), hash_key(key), "bench", [])
    storage.close()
    return key


def through_http(batches: list[list[dict[str, Any]]], directory: Path, durable: bool) -> float:
    db_path = directory / f"http-{durable}.db"
    key = new_database(str(db_path))
    # Bodies are built before the clock starts: the client's work is not the server's rate.
    # Without sent_at, which would read as clock skew by the time a body goes (engines.py).
    bodies = [gzip.compress(json.dumps({"batch": b}).encode()) for b in batches]
    with serving(str(db_path), DURABLE="1" if durable else "0") as (url, _):
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        }
        with httpx.Client(timeout=60.0) as http:
            started = time.perf_counter()
            for body in bodies:
                response = http.post(f"{url}/api/oak/ingest", content=body, headers=headers)
                response.raise_for_status()
            elapsed = time.perf_counter() - started
    return elapsed


def raw_sqlite(batches: list[list[dict[str, Any]]], directory: Path, durable: bool) -> float:
    db_path = directory / f"raw-{durable}.db"
    open_storage(str(db_path), create=True).close()  # the same schema as the server's
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    received = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    started = time.perf_counter()
    for batch in batches:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO messages (project_id, uuid, type, received_at) VALUES (1, ?, ?, ?)",
            [(m["uuid"], m["type"], received) for m in batch],
        )
        connection.executemany(
            "INSERT INTO events (project_id, uuid, distinct_id, event, timestamp,"
            " client_timestamp, received_at, properties, groups)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, '{}')",
            rows_of(batch, received),
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    batches = make_batches(args.events, args.batch)
    print(f"{args.events} events in batches of {args.batch}, SQLite WAL, one run")
    modes = (
        (True, "durable (the default, synchronous=FULL)"),
        (False, "fast (OAK_SERVER_DURABLE=0, synchronous=NORMAL)"),
    )
    for durable, label in modes:
        with tempfile.TemporaryDirectory(prefix="oakdata-bench-") as directory:
            http_seconds = through_http(batches, Path(directory), durable)
            raw_seconds = raw_sqlite(batches, Path(directory), durable)
        http_rate = args.events / http_seconds
        raw_rate = args.events / raw_seconds
        print(label)
        print(f"  through HTTP (POST /api/oak/ingest, gzip): {http_rate:>10,.0f} events/s")
        print(f"  raw sqlite3 executemany, same rows:        {raw_rate:>10,.0f} events/s")
        print(f"  ratio HTTP / raw:                          {http_rate / raw_rate:>10.2f}")


if __name__ == "__main__":
    main()
