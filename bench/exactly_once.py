"""Exactly-once storage under injected faults: captured / stored / duplicated / lost per scenario.

    .venv/bin/python bench/exactly_once.py [--clients sync,async]

Runs every scenario of tests/reliability/scenarios.py (the same code the tests assert on): the
SDK sends through a fault-injecting proxy (tests/reliability/faultproxy.py) to the real ingest
server on 127.0.0.1, each scenario on a fresh SQLite file; the restart scenario stops the
server and starts it again on the same port and file while a thread keeps capturing. Prints
one row per scenario and exits 1 if any row is not exactly once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability.scenarios import PLANS, Result, run_proxy_scenario, run_restart

COLUMNS = (
    ("scenario", 38),
    ("client", 6),
    ("captured", 8),
    ("stored", 6),
    ("duplicated", 10),
    ("lost", 4),
    ("faults", 6),
    ("stored, answer lost", 19),
    ("server dups", 11),
    ("retries", 7),
    ("stats agree", 11),
    ("seconds", 7),
)


def row(result: Result) -> list[str]:
    return [
        result.scenario,
        result.client,
        str(result.captured),
        str(result.stored),
        str(result.duplicated),
        str(result.lost),
        str(result.faults),
        str(result.stored_then_lost),
        str(result.server_duplicates),
        str(result.retried),
        "yes" if result.stats_agree else "NO",
        f"{result.seconds:.1f}",
    ]


def markdown(results: list[Result]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    lines += ["| " + " | ".join(row(result)) + " |" for result in results]
    return "\n".join(lines)


def plain(results: list[Result]) -> str:
    lines = ["  ".join(name.ljust(width) for name, width in COLUMNS)]
    for result in results:
        lines.append(
            "  ".join(
                cell.ljust(width) for cell, (_, width) in zip(row(result), COLUMNS, strict=False)
            )
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        default="sync,async",
        help="comma-separated: sync (OakClient), async (AsyncOakClient)",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    clients = [c for c in args.clients.split(",") if c]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="oak-exactly-once-") as tmp:
        for number, name in enumerate(PLANS):
            for client in clients:
                db_path = Path(tmp) / f"{number}-{client}.db"
                results.append(run_proxy_scenario(name, client, db_path))
                print(f"  done: {name} ({client})", file=sys.stderr)
        results.append(run_restart(Path(tmp) / "restart.db"))
    print(markdown(results) if args.markdown else plain(results))
    for result in results:
        for note in result.notes:
            print(f"note, {result.scenario} ({result.client}): {note}")
    failed = [r for r in results if not r.exactly_once]
    for result in failed:
        print(f"NOT EXACTLY ONCE: {result.scenario} ({result.client}): {result.stats!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
