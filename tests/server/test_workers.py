"""`oakdata serve --workers 2`: several processes on one port store every event once.

Whether the workers also make answers faster is a timing question for bench/workers.py.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

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


def test_a_number_of_workers_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--workers", "0", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "workers" in result.stderr


def _inherited() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
