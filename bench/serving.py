"""`oakdata serve` as its own processes for the server benchmarks (engines, workers, ingest),
so that the clients building and sending requests do not share a GIL with it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


@contextmanager
def serving(url: str, workers: int = 1, **settings: str) -> Iterator[tuple[str, int]]:
    """(the server's base URL, its process id) while it serves the database at `url`, rate
    limits off, reads allowed with ADMIN_TOKEN; `settings` are more OAK_SERVER_* variables,
    e.g. DURABLE="0"."""
    port = free_port()
    # PYTHONPATH too: a checkout run with PYTHONPATH=src rather than an install must find it.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
    env.update(
        OAK_SERVER_RATE_LIMIT_PER_SECOND="0",
        OAK_SERVER_ADMIN_TOKEN=ADMIN_TOKEN,
        **{f"OAK_SERVER_{name}": value for name, value in settings.items()},
    )
    command = ["serve", "--port", str(port), "--database", url, "--workers", str(workers)]
    process = subprocess.Popen(
        [sys.executable, "-m", "oakdata_server.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, process)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/api/oak/health", timeout=1.0)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.05)  # waiting for a port to open; nothing to wait on but polling
