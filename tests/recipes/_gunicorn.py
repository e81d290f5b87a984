"""Running a recipe's WSGI app under real gunicorn --preload with several workers."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from httpbed import HttpBed

from .conftest import Child, child_env, wait_for_port

WORKERS = 2
MIN_REQUESTS = 40
MAX_REQUESTS = 400


def serve_requests_then_sigterm(
    bed: HttpBed,
    spawn: Callable[..., Child],
    app: str,
    config: Path,
    path: str = "/signup/{n}",
    **env: str,
) -> tuple[list[str], Child]:
    """Start gunicorn --preload, send requests until every worker has answered (and at
    least MIN_REQUESTS), stop it with SIGTERM; return the uuids the app said it captured."""
    server = spawn(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers",
            str(WORKERS),
            "--bind",
            "127.0.0.1:0",
            "--config",
            str(config),
            "--graceful-timeout",
            "20",
            app,
        ],
        child_env(bed, **env),
    )
    port = server.listening_port("Listening at:", "gunicorn listening")
    server.wait_for(
        lambda: len(server.lines_matching("Booting worker")) >= WORKERS, "workers booted"
    )
    wait_for_port(port)

    answers: list[dict[str, object]] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        def request(n: int) -> dict[str, object]:
            response = http.post(path.format(n=n))
            response.raise_for_status()
            answer: dict[str, object] = response.json()
            return answer

        with ThreadPoolExecutor(max_workers=4) as pool:
            # rounds of 20 concurrent requests, until every worker has served some
            while len(answers) < MAX_REQUESTS:
                answers += pool.map(request, range(len(answers), len(answers) + 20))
                if len(answers) >= MIN_REQUESTS and len({a["pid"] for a in answers}) >= WORKERS:
                    break

    master = server.proc.pid
    worker_pids = {a["pid"] for a in answers}
    assert len(worker_pids) == WORKERS, f"only workers {worker_pids} answered"
    assert master not in worker_pids
    # --preload: the client was made in the master, before the fork
    assert {a["client_made_in"] for a in answers} == {master}

    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0, server.output()
    for pid in worker_pids:
        assert server.lines_matching(f"oakdata shutdown delivered=True pid={pid}"), server.output()
    return [str(a["uuid"]) for a in answers], server
