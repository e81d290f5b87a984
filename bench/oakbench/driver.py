"""Start the sink, run every scenario for every SDK in fresh subprocesses, repeat, report."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report, sdks
from .control import SinkControl
from .event import EVENT_NAME, distinct_ids, properties

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
SCENARIOS = ("burst", "slow", "down", "memory", "serverless")
SINK_MAX_SECONDS = 4 * 3600.0  # a backstop only: the sink stops as soon as its stdin closes


@dataclass(frozen=True)
class Column:
    name: str  # the table's column
    sdk: str  # what sdks.build() builds
    python: str  # the interpreter of the environment it is installed in


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat, small sizes")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each figure (median)")
    parser.add_argument("--events", type=int, default=200_000, help="burst size")
    parser.add_argument("--degraded-events", type=int, default=20_000, help="sink slow/down")
    parser.add_argument("--memory-events", type=int, default=20_000)
    parser.add_argument("--serverless-iterations", type=int, default=500)
    parser.add_argument("--import-runs", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.05, help="the slow sink's delay, s")
    parser.add_argument("--sdks", default=",".join(sdks.SDKS), help="comma-separated subset")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS) + ",import")
    parser.add_argument("--speedups-python", help="interpreter with oakdata[speedups]")
    parser.add_argument("--speedups-note", default="", help="why there is no speedups column")
    parser.add_argument("--output", default=str(BENCH_DIR / "results" / "latest.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
        args.events = min(args.events, 20_000)
        args.degraded_events = min(args.degraded_events, 5_000)
        args.memory_events = min(args.memory_events, 5_000)
        args.serverless_iterations = min(args.serverless_iterations, 100)
        args.import_runs = min(args.import_runs, 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [s.strip() for s in args.sdks.split(",") if s.strip()]
    columns = [Column(s, s, sys.executable) for s in sdks.SDKS if s in chosen]
    if args.speedups_python and "oakdata" in chosen:
        columns.append(Column(report.SPEEDUPS, "oakdata", args.speedups_python))
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    names = [c.name for c in columns]

    started = time.time()
    machine_info = machine(columns)
    print(machine_text(machine_info), flush=True)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {c.name: {} for c in columns}
    failures: list[str] = []
    # oakdata is installed editable: a change to src/ during the run would mix versions.
    fingerprints = {src_fingerprint()}
    with sink_process() as host:
        ceiling = sink_ceiling(host)
        print(ceiling_text(ceiling) + "\n", flush=True)
        # The machine's speed drifts during a run: its own tail is measured between the
        # scenarios, not once.
        references: list[dict[str, float]] = []
        for repeat in range(args.repeats):
            for scenario in scenarios:
                if scenario == "import":
                    continue
                references.append(machine_reference(args.events))
                for column in columns:
                    fingerprints.add(src_fingerprint())
                    result = run_workload(column, scenario, host, args)
                    label = f"[{repeat + 1}/{args.repeats}] {scenario:<10} {column.name:<18}"
                    if "error" in result:
                        failures.append(f"{label.strip()}: {result['error']}")
                        progress(f"{label} FAILED: {result['error']}")
                        continue
                    samples[column.name].setdefault(scenario, []).append(result)
                    progress(f"{label} {summary(result)}")
    if "import" in scenarios:
        for column in columns:
            times = import_times(column, args.import_runs)
            samples[column.name]["import"] = [{"ms": ms} for ms in times]
            progress(f"import     {column.name:<18} {[round(t, 1) for t in times]} ms")

    fingerprints.add(src_fingerprint())
    table = report.medians(samples)
    reference = summarize_references(references)
    notes = run_notes(args, ceiling, reference, len(fingerprints), samples, failures)
    print()
    print(report.render(table, names, notes=notes))
    result = {
        "machine": machine_info,
        "settings": {k: v for k, v in vars(args).items() if k != "output"},
        "columns": names,
        "sink_ceiling": ceiling,
        "machine_reference": reference,
        "figures": table,
        "targets": {f.key: f.target for f in report.FIGURES},
        "failures": failures,
        "src_versions_seen": len(fingerprints),
        "runs": samples,
        "elapsed_seconds": time.time() - started,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"\nJSON: {output}")
    return 1 if failures else 0


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(result: dict[str, Any]) -> str:
    parts = []
    for key, fmt in (
        ("p50_us", "p50 {:.1f} µs"),
        ("p99_us", "p99 {:.1f} µs"),
        ("delivered_eps", "{:,.0f} ev/s"),
        ("cpu_per_100k", "{:.2f} CPU s/100k"),
        ("traced_bytes_per_event", "{:,.0f} B/event"),
        ("p50_ms", "p50 {:.3f} ms"),
    ):
        if result.get(key) is not None:
            parts.append(fmt.format(result[key]))
    return ", ".join(parts)


def run_notes(
    args: argparse.Namespace,
    ceiling: dict[str, Any],
    reference: dict[str, float],
    versions_seen: int,
    samples: dict[str, dict[str, list[dict[str, Any]]]],
    failures: list[str],
) -> list[str]:
    """What goes under the table: sizes, the sink's ceiling, the machine's tail, warnings."""
    notes = table_notes(args, ceiling)
    if reference:
        notes.append(reference_text(reference))
    if not args.speedups_python:
        notes.append(f"No oakdata[speedups] column: {args.speedups_note or 'not requested'}.")
    if versions_seen > 1:
        notes.append(
            f"Warning: src/oakdata changed during the run ({versions_seen} versions seen); "
            "the figures mix them. Rerun on a tree nobody is editing."
        )
    plain_runs = [r for rs in samples.get(report.OAK, {}).values() for r in rs]
    if any(r.get("orjson_installed") for r in plain_runs):
        notes.append("Warning: orjson is importable in the plain oakdata environment.")
    notes += [f"FAILED (n/a in the table when every repeat failed): {f}" for f in failures]
    return notes


def table_notes(args: argparse.Namespace, ceiling: dict[str, Any]) -> list[str]:
    return [
        f"Medians of {args.repeats} run(s), each SDK in a fresh process per run. "
        f"Burst: {args.events:,} events; sink down/slow: {args.degraded_events:,} events; "
        f"memory: {args.memory_events:,} queued events; serverless: "
        f"{args.serverless_iterations} capture+flush; import: median of {args.import_runs}.",
        f"{ceiling_text(ceiling)[0].upper()}{ceiling_text(ceiling)[1:]}.",
    ]


# -- the sink ---------------------------------------------------------------------------


@contextmanager
def sink_process() -> Iterator[str]:
    """The sink in its own process; it stops when this block ends (or this process dies)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "oakbench.sink", "--max-seconds", str(SINK_MAX_SECONDS)],
        cwd=BENCH_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"PORT (\d+)\n", line)
        if not match:
            raise RuntimeError(f"the sink did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def oak_body(events: int) -> bytes:
    """An oakdata-format request body of `events` bench events, gzipped as oakdata does."""
    ids, props = distinct_ids(), properties()
    messages = [
        json.dumps(
            {
                "type": "capture",
                "uuid": "0190a8b4-7e1c-7b3a-9f00-%012x" % i,  # noqa: UP031 - fixed width
                "timestamp": "2026-11-28T21:31:24.123456Z",
                "event": EVENT_NAME,
                "distinct_id": ids[i % len(ids)],
                "properties": props[i % len(props)],
                "groups": {},
            },
            separators=(",", ":"),
        )
        for i in range(events)
    ]
    body = '{"batch":[' + ",".join(messages) + '],"sent_at":"2026-11-28T21:31:24.123456Z"}'
    return gzip.compress(body.encode(), compresslevel=1)


def sink_ceiling(host: str, seconds: float = 1.5) -> dict[str, Any]:
    """What the sink absorbs from one tight keep-alive client, at two batch sizes."""
    control = SinkControl(host)
    port = int(host.rsplit(":", 1)[1])
    found: dict[str, Any] = {}
    for batch in (100, 1000):
        body = oak_body(batch)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        control.reset("up")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        requests = 0
        started = time.monotonic()
        try:
            while time.monotonic() - started < seconds:
                connection.request("POST", "/api/oak/ingest", body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                requests += 1
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        counted = control.stats()["events"]
        if counted != requests * batch:
            raise RuntimeError(f"sink ceiling: counted {counted} of {requests * batch} events")
        found[f"batch_{batch}"] = {
            "requests_per_s": requests / elapsed,
            "events_per_s": counted / elapsed,
        }
    found["round_trip_ms_p50"] = sink_round_trip_ms(port)
    found["http_client_round_trip_ms_p50"] = http_client_round_trip_ms(port)
    return found


def sink_round_trip_ms(port: int, requests: int = 300) -> float:
    """p50 of one 1-event request over a raw keep-alive socket: the sink's share of a send."""
    body = oak_body(1)
    head = (
        b"POST /api/oak/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    timings = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(requests):
            started = time.perf_counter_ns()
            sock.sendall(head + body)
            answer = b""
            while not answer.endswith(b"}"):  # the sink's answers are JSON objects
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the sink closed the connection")
                answer += chunk
            timings.append(time.perf_counter_ns() - started)
    timings.sort()
    return timings[len(timings) // 2] / 1e6


def http_client_round_trip_ms(port: int, requests: int = 300) -> float:
    """p50 of the same request made with http.client on a kept-alive connection: what an
    SDK that sends through http.client as it stands pays per request (posthog and segment,
    by way of requests and urllib3; oakdata's transport trims it, see transports/http.py)."""
    body = oak_body(1)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    timings = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(requests):
            started = time.perf_counter_ns()
            connection.request("POST", "/api/oak/ingest", body=body, headers=headers)
            connection.getresponse().read()
            timings.append(time.perf_counter_ns() - started)
    finally:
        connection.close()
    timings.sort()
    return timings[len(timings) // 2] / 1e6


def machine_reference(events: int) -> dict[str, float]:
    """oakbench.reference in a fresh process: the machine's own p50 and p99 for a constant
    task of a few microseconds."""
    finished = subprocess.run(
        [sys.executable, "-m", "oakbench.reference", str(events)],
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found: dict[str, float] = json.loads(finished.stdout)
    return found


def summarize_references(references: list[dict[str, float]]) -> dict[str, float]:
    if not references:
        return {}
    p99s = [r["p99_us"] for r in references]
    return {
        "p50_us": statistics.median(r["p50_us"] for r in references),
        "p99_us": statistics.median(p99s),
        "p99_us_min": min(p99s),
        "p99_us_max": max(p99s),
        "runs": len(references),
    }


def reference_text(reference: dict[str, float]) -> str:
    return (
        "The machine's own tail, measured before each scenario of each repeat (the bench "
        "properties through json's C encoder, no SDK, timed call by call like capture()): "
        f"p50 {reference['p50_us']:.1f} µs, p99 {reference['p99_us']:.1f} µs (median of "
        f"{reference['runs']:.0f}; p99 from {reference['p99_us_min']:.1f} to "
        f"{reference['p99_us_max']:.1f} µs). A capture() p99 near it is the machine's."
    )


def ceiling_text(ceiling: dict[str, Any]) -> str:
    parts = [
        f"{v['requests_per_s']:,.0f} req/s = {v['events_per_s']:,.0f} events/s "
        f"with {k.split('_')[1]}-event gzip batches"
        for k, v in ceiling.items()
        if k.startswith("batch_")
    ]
    return (
        "sink ceiling (one tight keep-alive http.client client): "
        + "; ".join(parts)
        + f"; round trip of a 1-event request over a raw socket: p50 "
        f"{ceiling['round_trip_ms_p50']:.3f} ms, with http.client: p50 "
        f"{ceiling['http_client_round_trip_ms_p50']:.3f} ms"
    )


# -- the workloads -----------------------------------------------------------------------


def run_workload(
    column: Column, scenario: str, host: str, args: argparse.Namespace
) -> dict[str, Any]:
    events = {
        "burst": args.events,
        "slow": args.degraded_events,
        "down": args.degraded_events,
        "memory": args.memory_events,
    }.get(scenario, 0)
    deadline = 900.0 if scenario == "burst" else 300.0
    spec = {
        "sdk": column.sdk,
        "scenario": scenario,
        "host": host,
        "events": events,
        "iterations": args.serverless_iterations,
        "latency": args.latency,
        "deadline": deadline,
    }
    try:
        done = subprocess.run(
            [column.python, "-m", "oakbench.workload", json.dumps(spec)],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=deadline + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}, no result; stderr: {' | '.join(tail)}"}
    sink = result.get("sink") or {}
    if sink.get("mismatches") or sink.get("unknown"):
        result["error"] = f"sink saw {sink['mismatches']} count mismatches, {sink['unknown']} 404s"
    return result


def import_times(column: Column, runs: int) -> list[float]:
    """Cumulative import time (ms) of the SDK's package, by `python -X importtime`."""
    module = sdks.IMPORT_NAMES[column.sdk]
    root = module.split(".")[0]
    times = []
    with tempfile.TemporaryDirectory() as empty:  # nothing local shadows the package
        for _ in range(runs):
            done = subprocess.run(
                [column.python, "-I", "-X", "importtime", "-c", f"import {module}"],
                cwd=empty,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            times.append(cumulative_import_ms(done.stderr, root))
    return times


def cumulative_import_ms(importtime_log: str, root: str) -> float:
    """Sum of the cumulative times of the top-level imports of `root` and its submodules."""
    total_us = 0
    for line in importtime_log.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[0].startswith("import time:"):
            continue
        name_field = parts[2].rstrip()
        name = name_field.strip()
        top_level = len(name_field) - len(name_field.lstrip(" ")) == 1
        if top_level and (name == root or name.startswith(root + ".")):
            total_us += int(parts[1])
    return total_us / 1000.0


def src_fingerprint() -> str:
    """A hash of oakdata's sources and build files, as the editable install sees them."""
    digest = hashlib.sha256()
    package = REPO_DIR / "src" / "oakdata"
    paths = [*sorted(package.rglob("*.py")), REPO_DIR / "pyproject.toml"]
    for path in paths:
        digest.update(str(path.relative_to(REPO_DIR)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:  # deleted between the listing and the read
            digest.update(b"<gone>")
    return digest.hexdigest()[:16]


# -- the machine -------------------------------------------------------------------------


def machine(columns: list[Column]) -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for column in columns:
        done = subprocess.run(
            [column.python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        versions[column.name] = done.stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_per_column": versions,
        "load_average_at_start": os.getloadavg(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "tree_dirty": bool(_git("status", "--porcelain", "--", "src", "pyproject.toml")),
    }


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def machine_text(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, {info['os']}\n"
        f"python:  {info['python']} (bench environment); load average at start: {load}\n"
        f"commit:  {info['commit']}{' (src has uncommitted changes)' if info['tree_dirty'] else ''}"
        f", {info['date_utc']}"
    )
