"""A bounded soak: several threads capture while the server flaps (up / down / 500).

    .venv/bin/python bench/soak.py [--seconds 120] [--threads 4] [--rate 250] [--phase 3]

The server runs as a child process (`oakdata serve`, SQLite in a temporary directory) behind the
fault proxy of tests/reliability/faultproxy.py; the proxy cycles up, down (connections reset),
up, 500, each phase `--phase` seconds. Every second it samples this process's RSS (from
/proc/self/statm) and stats(). At the end it prints the samples, the final counters, what the
server stored, and the checks; exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability.soak import MAX_BATCH_MESSAGES, SoakResult, run_soak

RSS_GROWTH_LIMIT_BYTES = 20 * 1024 * 1024
MIB = 1024 * 1024


def checks(result: SoakResult) -> list[tuple[str, bool]]:
    final = result.final
    return [
        (
            f"RSS growth after warm-up < 20 MiB ({result.rss_growth_after_warmup() / MIB:.1f} MiB)",
            result.rss_growth_after_warmup() < RSS_GROWTH_LIMIT_BYTES,
        ),
        (
            f"stats().queued <= max_queue_size + one batch in flight "
            f"({result.max_queued} <= {result.max_queue_size} + {MAX_BATCH_MESSAGES})",
            result.max_queued <= result.max_queue_size + MAX_BATCH_MESSAGES,
        ),
        (
            f"captured == delivered + dropped_total ({final.captured} == {final.delivered} + "
            f"{final.dropped_total})",
            final.captured == final.delivered + final.dropped_total,
        ),
        ("nothing left queued at the end", final.queued == 0),
        (
            f"every delivered event stored once ({final.delivered} delivered, "
            f"{result.stored_unique} stored, "
            f"{result.stored - result.stored_unique} duplicate rows)",
            result.stored_unique == final.delivered and result.stored == result.stored_unique,
        ),
        ("every drop counted under a reason", not result.notes),
    ]


def report(result: SoakResult) -> str:
    lines = [
        f"{'second':>6} {'phase':>5} {'RSS MiB':>8} {'queued':>7} {'captured':>9} "
        f"{'delivered':>9} {'dropped':>8}"
    ]
    for s in result.samples:
        lines.append(
            f"{s.second:6.0f} {s.phase:>5} {s.rss / MIB:8.1f} {s.queued:7d} "
            f"{s.captured:9d} {s.delivered:9d} {s.dropped:8d}"
        )
    final = result.final
    dropped = {reason: n for reason, n in final.dropped.items() if n}
    rss = [s.rss for s in result.samples]
    lines += [
        "",
        f"{result.threads} threads x {result.rate_per_thread:g} events/s, "
        f"{result.seconds:.0f} s in all",
        f"final: captured {final.captured}, delivered {final.delivered}, retried "
        f"{final.retried}, queued {final.queued}, dropped {dropped}",
        f"RSS: min {min(rss) / MIB:.1f} MiB, max {max(rss) / MIB:.1f} MiB, growth after "
        f"warm-up {result.rss_growth_after_warmup() / MIB:.1f} MiB",
        f"max stats().queued {result.max_queued} (max_queue_size {result.max_queue_size})",
        f"server stored {result.stored_unique} events ({result.stored} rows)",
        f"shutdown delivered everything left: {result.shutdown_delivered}",
        "",
    ]
    for text, ok in checks(result):
        lines.append(f"{'ok  ' if ok else 'FAIL'} {text}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=250.0, help="events/s per thread")
    parser.add_argument("--phase", type=float, default=3.0, help="seconds per proxy phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oak-soak-") as tmp:
        result = run_soak(
            Path(tmp) / "oakdata.db",
            seconds=args.seconds,
            threads=args.threads,
            rate_per_thread=args.rate,
            phase_seconds=args.phase,
        )
    print(report(result))
    return 0 if all(ok for _, ok in checks(result)) else 1


if __name__ == "__main__":
    sys.exit(main())
