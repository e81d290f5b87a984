"""Instructions per capture(), counted by valgrind: ``python -m oakbench.instructions``.

Not part of the table: a profiling aid for whoever works on the hot path, on machines too
noisy for a timing to tell a 5 % change from chance. It runs a capture loop of the bench
event under callgrind twice, with no captures and with ``--captures``, and prints the
difference divided by the number of captures: the instructions one capture costs, the
same from run to run. Instructions are not time (a cache miss costs more than an add),
but a change that removes instructions from the hot path shows here at once.

The loop's clock is replaced by one that advances 10 µs per reading: under valgrind a
capture takes a millisecond, so with the real clock every capture would enter a new
millisecond and pay for what a real capture pays once in a hundred.

    cd bench && .venv/bin/python -m oakbench.instructions              # the whole capture()
    cd bench && .venv/bin/python -m oakbench.instructions --part ids   # one piece of it

Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .event import EVENT_NAME, distinct_ids, properties

PARTS = ("capture", "loop", "ids", "encode", "put")


def loop(part: str, captures: int) -> None:
    """The measured process: `captures` calls of one part of capture()."""
    import itertools

    import oakdata
    from oakdata import _ids

    fake_clock = itertools.count(1_800_000_000_000_000_000, 10_000).__next__
    _ids.time_ns = fake_clock  # type: ignore[attr-defined]  # see the module's docstring

    ids, props = distinct_ids(), properties()
    client = oakdata.OakClient(
        "oak_sec_instructions",
        host="http://127.0.0.1:9",  # never contacted: nothing is flushed, the process exits
        flush_at=10_000_000,
        flush_interval=0,
        max_queue_size=10_000_000,
    )
    client.capture(ids[0], EVENT_NAME, props[0])  # the thread starts, lazy imports happen
    from oakdata import _capture

    encode_capture = functools.partial(_capture.encode_capture, client._encoder)
    data = b"x" * 400

    def nothing(distinct_id: str, event: str, properties: Any) -> None:
        return None

    def ids_only(distinct_id: str, event: str, properties: Any) -> None:
        _ids.new_ids()

    def encode_only(distinct_id: str, event: str, properties: Any) -> None:
        encode_capture(distinct_id, event, properties, None, None, None)

    def put_only(distinct_id: str, event: str, properties: Any) -> None:
        client._worker.put(data)

    call: Callable[[str, str, Any], Any] = {
        "capture": client.capture,
        "loop": nothing,
        "ids": ids_only,
        "encode": encode_only,
        "put": put_only,
    }[part]
    name = EVENT_NAME
    for i in range(captures):
        k = i % 1000
        call(ids[k], name, props[k])
    os._exit(0)  # no exit flush: only the loop is counted


def instructions(part: str, captures: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "oakbench.instructions",
        "--run",
        part,
        "--captures",
        str(captures),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", finished.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{finished.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS, default="capture")
    parser.add_argument("--captures", type=int, default=20_000)
    parser.add_argument("--run", choices=PARTS, help=argparse.SUPPRESS)  # the measured process
    args = parser.parse_args()
    if args.run:
        loop(args.run, args.captures)
        return
    if shutil.which("valgrind") is None:
        sys.exit("oakbench.instructions needs valgrind (Debian: apt-get install valgrind)")
    per_capture = (instructions(args.part, args.captures) - instructions(args.part, 0)) / (
        args.captures
    )
    print(f"{args.part}: {per_capture:,.0f} instructions per call ({sys.executable})")


if __name__ == "__main__":
    main()
