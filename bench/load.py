"""Load on the ingest server from other processes: throughput, latency percentiles, nothing lost.

    .venv/bin/python bench/load.py [--clients 3] [--batches 150] [--batch 100]

The server runs as its own process (`oakdata serve`, SQLite in a temporary directory); each
client is another process posting pre-built gzip batches of capture events back to back over
one kept-alive http.client connection, timing every request. The parent then counts the rows
in the SQLite file: stored must equal sent. Throughput is reported over the whole run and per
quarter of it (held means the last quarter is within 20 % of the first).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def worker(port: int, key: str, batches: int, batch_size: int, worker_id: int) -> None:
    """Post the batches; print one JSON line: sent, uuids' count, and (end, seconds) per request."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bodies = []
    for b in range(batches):
        batch = [
            {
                "type": "capture",
                "uuid": str(uuid.uuid4()),
                "timestamp": stamp,
                "distinct_id": f"load-{worker_id}-{i % 100}",
                "event": "load_tick",
                "properties": {"worker": worker_id, "batch": b, "i": i, "plan": "pro"},
            }
            for i in range(batch_size)
        ]
        body = json.dumps({"batch": batch, "sent_at": stamp}).encode()
        bodies.append(gzip.compress(body, compresslevel=1))
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings: list[tuple[float, float]] = []
    accepted = failed = 0
    try:
        for body in bodies:
            started = time.perf_counter()
            connection.request("POST", "/api/oak/ingest", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            ended = time.perf_counter()
            if response.status == 200:
                accepted += json.loads(answer)["accepted"]
            else:
                failed += 1
            timings.append((time.time(), ended - started))
    finally:
        connection.close()
    print(
        json.dumps(
            {
                "sent": batches * batch_size,
                "accepted": accepted,
                "failed": failed,
                "timings": timings,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=3, help="client processes")
    parser.add_argument("--batches", type=int, default=150, help="requests per client")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument(
        "--worker", nargs=4, metavar=("PORT", "KEY", "ID", "_"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        port, key, worker_id, _ = args.worker
        worker(int(port), key, args.batches, args.batch, int(worker_id))
        return 0

    from reliability.ingest import stored_event_uuids
    from reliability.soak import start_server_process, stop_process

    with tempfile.TemporaryDirectory(prefix="oak-load-") as tmp:
        db_path = Path(tmp) / "oakdata.db"
        server, port, key = start_server_process(db_path)
        clients: list[subprocess.Popen[str]] = []
        try:
            started = time.time()
            for worker_id in range(args.clients):
                clients.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            __file__,
                            "--batches",
                            str(args.batches),
                            "--batch",
                            str(args.batch),
                            "--worker",
                            str(port),
                            key,
                            str(worker_id),
                            "-",
                        ],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
            results = []
            for client in clients:
                out, _ = client.communicate(timeout=600)
                results.append(json.loads(out.strip().splitlines()[-1]))
            wall = time.time() - started
        finally:
            for client in clients:
                if client.poll() is None:
                    client.kill()
                    client.wait(timeout=15)
            stop_process(server)
        rows = stored_event_uuids(db_path)

    sent = sum(r["sent"] for r in results)
    accepted = sum(r["accepted"] for r in results)
    failed = sum(r["failed"] for r in results)
    timings = [tuple(t) for r in results for t in r["timings"]]
    latencies_ms = [seconds * 1000 for _, seconds in timings]
    # Throughput once every client had built its batches: from the first answer to the last.
    ends = sorted(end for end, _ in timings)
    first, last = ends[0] - min(s for _, s in timings), ends[-1]
    span = last - first
    quarters = [0] * 4
    for end, _ in timings:
        quarters[min(3, int((end - first) / span * 4))] += args.batch
    quarter_rates = [count / (span / 4) for count in quarters]
    stored = sum(rows.values())
    print(
        f"{args.clients} client processes x {args.batches} requests x {args.batch} events "
        f"(gzip), one oakdata serve process, SQLite WAL"
    )
    print(
        f"  sent {sent}, accepted {accepted}, stored {len(rows)} ({stored} rows), "
        f"failed requests {failed}"
    )
    print(
        f"  throughput: {sent / span:,.0f} events/s over {span:.1f} s of posting "
        f"({wall:.1f} s wall, with process start and batch building)"
    )
    print("  per quarter: " + ", ".join(f"{rate:,.0f}" for rate in quarter_rates) + " events/s")
    print(
        f"  request latency ({len(latencies_ms)} requests of {args.batch} events): "
        f"p50 {percentile(latencies_ms, 0.5):.1f} ms, p90 {percentile(latencies_ms, 0.9):.1f} "
        f"ms, p99 {percentile(latencies_ms, 0.99):.1f} ms, max {max(latencies_ms):.1f} ms"
    )
    lost_nothing = len(rows) == sent == stored and failed == 0
    held = quarter_rates[3] >= 0.8 * quarter_rates[0]
    print(f"  {'ok  ' if lost_nothing else 'FAIL'} stored == sent, once each")
    print(f"  {'ok  ' if held else 'FAIL'} throughput held (last quarter >= 80 % of the first)")
    return 0 if lost_nothing and held else 1


if __name__ == "__main__":
    sys.exit(main())
