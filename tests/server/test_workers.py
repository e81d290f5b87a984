"""`oakdata serve --workers 2`: several processes on one port store every event once.

Whether the workers also make answers faster is a timing question for bench/workers.py.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .conftest import message
from .test_cli import CLI, _free_port, run_cli

CLIENTS = 8
BATCHES_PER_CLIENT = 10
EVENTS_PER_BATCH = 20


def _wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/api/oak/health", timeout=2.0)
            return
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)  # polling for the port to open; there is no event to wait on


def test_two_workers_store_every_event_once(tmp_path: Path) -> None:
    db = str(tmp_path / "workers.db")
    key = run_cli("keys", "create", "--init", "--db", db).stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--db", db, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={"OAK_SERVER_RATE_LIMIT_PER_SECOND": "0", **_inherited()},
    )
    sent: list[str] = []

    def client(number: int) -> list[int]:
        # Each client its own kept-alive connection, as SDK processes would have.
        accepted = []
        with httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {key}"}) as http:
            for _ in range(BATCHES_PER_CLIENT):
                batch = [message(distinct_id=f"user-{number}") for _ in range(EVENTS_PER_BATCH)]
                sent.extend(m["uuid"] for m in batch)
                for _attempt in range(2):  # every batch twice: a retry after a lost answer
                    response = http.post(f"{url}/api/oak/ingest", json={"batch": batch})
                    assert response.status_code == 200, response.text
                    accepted.append(response.json()["accepted"])
        return accepted

    try:
        _wait_until_serving(url, process)
        with ThreadPoolExecutor(CLIENTS) as pool:
            accepted = [n for counts in pool.map(client, range(CLIENTS)) for n in counts]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "2 workers" in stderr
    assert sum(accepted) == len(sent) == CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH
    connection = sqlite3.connect(db)
    try:
        stored = [uuid for (uuid,) in connection.execute("SELECT uuid FROM events")]
    finally:
        connection.close()
    assert sorted(stored) == sorted(sent)


@pytest.mark.skipif(sys.platform != "linux", reason="reads processes and sockets from /proc")
def test_connections_made_while_a_worker_starts_still_reach_it(tmp_path: Path) -> None:
    # One worker is held stopped while it starts; clients connect once the other answers.
    # Connections must still spread over both (workers.py: the parent listens on every
    # worker's socket before starting any), not all land on the first one up and stay.
    db = str(tmp_path / "spread.db")
    run_cli("keys", "create", "--init", "--db", db)
    port = _free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--db", db, "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_inherited(),
    )
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(16)]
    held: list[int] = []
    try:
        late = _first_worker(process)
        os.kill(late, signal.SIGSTOP)  # a worker takes ~0.5 s to start; this one waits
        try:
            _wait_until_serving(f"http://127.0.0.1:{port}", process)
            for connection in connections:  # kept alive, as an SDK's would be
                connection.request("GET", "/api/oak/health")
        finally:
            os.kill(late, signal.SIGCONT)
        for connection in connections:
            assert connection.getresponse().read()
        established = _tcp_sockets(port)
        held = [len(established & _socket_inodes(pid)) for pid in _workers(process.pid)]
    finally:
        for connection in connections:
            connection.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    # 16 connections hashed over 2 sockets all reach one with probability 2 in 65,536.
    assert sum(held) == 16, held
    assert len(held) == 2, held
    assert all(held), held


def _first_worker(process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 30
    while not (workers := _workers(process.pid)):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.001)  # polling /proc for the child: there is nothing to wait on
    return workers[0]


def _workers(pid: int) -> list[int]:
    """The worker processes among `pid`'s children (not multiprocessing's resource
    tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        pids = [int(child) for child in children.read().split()]
    workers = []
    for child in pids:
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as cmdline:
            if b"spawn_main" in cmdline.read():
                workers.append(child)
    return workers


def _tcp_sockets(port: int) -> set[str]:
    """The inodes of the sockets with a connection on local `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                # "01": the kernel's TCP_ESTABLISHED
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def test_a_number_of_workers_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--workers", "0", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "workers" in result.stderr


def _inherited() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
