"""FastAPI under real uvicorn: the lifespan's shutdown delivers every captured event once."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from httpbed import HttpBed

from .conftest import Child, assert_received_exactly, child_env, free_port, wait_for_port

REQUESTS = 60


def test_uvicorn_lifespan_shutdown_delivers_every_event_once(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    port = free_port()
    server = spawn(
        [sys.executable, "-m", "uvicorn", "recipe_fastapi:app",
         "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on"],
        child_env(bed),
    )
    server.wait_for(
        lambda: bool(server.lines_matching("Application startup complete")), "uvicorn startup"
    )
    wait_for_port(port)

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        def signup(n: int) -> str:
            response = http.post(f"/signup/user_{n}")
            response.raise_for_status()
            uuid: str = response.json()["uuid"]
            return uuid

        with ThreadPoolExecutor(max_workers=4) as pool:
            captured = list(pool.map(signup, range(REQUESTS)))

    assert bed.messages == [], "events held until shutdown left early"
    server.signal(signal.SIGTERM)
    # uvicorn re-raises the signal it caught once it has shut down, so -SIGTERM is a clean stop
    assert server.wait_exit() in (0, -signal.SIGTERM), server.output()

    assert server.lines_matching("oakdata shutdown delivered=True"), server.output()
    assert_received_exactly(bed, captured)
