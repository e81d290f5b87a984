"""`oakdata serve --workers N`: latency and rate with 1 and with 2 workers, in one run.

    PYTHONPATH=src python bench/workers.py [--clients 4] [--seconds 5] [--batch 100]

Each client is a thread with its own kept-alive connection sending gzip batches as fast as
answers come back. The goal (issue #16): p50 latency with 2 workers within 2x of 1 worker (no
per-answer stall, connections spread), and a higher rate. On a 2-core machine the clients
share the cores with the server, so the rate is a floor, not the server's ceiling.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from engines import postgres_database
from ingest import make_batches, new_database
from serving import serving


def run(workers: int, clients: int, seconds: float, batch: int, bodies: int, db_path: str) -> None:
    key = new_database(db_path)
    latencies: list[float] = []
    events = [0]
    lock = threading.Lock()
    stop = threading.Event()

    # Bodies are built before the clock starts: the client's work is not the server's.
    per_client = [
        [
            gzip.compress(json.dumps({"batch": b}).encode())
            for b in make_batches(bodies * batch, batch)
        ]
        for _ in range(clients)
    ]

    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {key}", "Content-Encoding": "gzip"}
        mine: list[float] = []
        sent = 0
        with httpx.Client(timeout=60.0, headers=headers) as http:
            for body in per_client[number]:
                if stop.is_set():
                    break
                started = time.perf_counter()
                http.post(f"{url}/api/oak/ingest", content=body).raise_for_status()
                mine.append(time.perf_counter() - started)
                sent += batch
        with lock:
            latencies.extend(mine)
            events[0] += sent

    with serving(db_path, workers) as (url, _):
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    p50 = statistics.median(latencies) * 1000
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(
        f"  {workers} worker(s): p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"{events[0] / elapsed:>9,.0f} events/s stored"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--bodies", type=int, default=300, help="per client, at most")
    parser.add_argument("--postgres", help="a postgresql:// server URL: run there, not on SQLite")
    args = parser.parse_args()
    engine = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{args.clients} clients, {args.batch}-event gzip batches, {args.seconds:.0f} s each,"
        f" {engine}, durable"
    )
    with tempfile.TemporaryDirectory(prefix="oakdata-bench-") as directory:
        for workers in (1, 2):
            with ExitStack() as stack:
                db = str(Path(directory) / f"workers-{workers}.db")
                if args.postgres:
                    db = stack.enter_context(postgres_database(args.postgres))
                run(workers, args.clients, args.seconds, args.batch, args.bodies, db)


if __name__ == "__main__":
    main()
