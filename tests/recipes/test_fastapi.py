"""FastAPI under real uvicorn: the lifespan's shutdown delivers every captured event once."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from httpbed import HttpBed

from .conftest import (
    Child,
    assert_received_exactly,
    assert_request_context,
    child_env,
    wait_for_port,
)

REQUESTS = 60


def _start_uvicorn(bed: HttpBed, spawn: Callable[..., Child], **env: str) -> tuple[Child, int]:
    server = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "recipe_fastapi:app",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--lifespan",
            "on",
        ],
        child_env(bed, **env),
    )
    port = server.listening_port("Uvicorn running on", "uvicorn listening")
    server.wait_for(
        lambda: bool(server.lines_matching("Application startup complete")), "uvicorn startup"
    )
    wait_for_port(port)
    return server, port


def _post_all(port: int, path: str, count: int) -> list[str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

        def post(n: int) -> str:
            response = http.post(path.format(n=n))
            response.raise_for_status()
            uuid: str = response.json()["uuid"]
            return uuid

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(post, range(count)))


def test_uvicorn_lifespan_shutdown_delivers_every_event_once(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    server, port = _start_uvicorn(bed, spawn)

    captured = _post_all(port, "/signup/user_{n}", REQUESTS)

    assert bed.messages == [], "events held until shutdown left early"
    server.signal(signal.SIGTERM)
    # uvicorn re-raises the signal it caught once it has shut down, so -SIGTERM is a clean stop
    assert server.wait_exit() in (0, -signal.SIGTERM), server.output()

    assert server.lines_matching("oakdata shutdown delivered=True"), server.output()
    assert_received_exactly(bed, captured)


def test_events_captured_in_sync_routes_leave_while_the_app_runs(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    # Default options: flush_at=20. FastAPI runs `def` routes in its thread pool, so every
    # capture here comes from a thread other than the loop's.
    server, port = _start_uvicorn(bed, spawn, RECIPE_HOLD="0")

    captured = _post_all(port, "/invite/user_{n}", 25)

    try:
        # a full batch of 20 is due at once, not at shutdown
        bed.wait_for_messages(20, timeout=5)
    finally:
        server.signal(signal.SIGTERM)
        server.wait_exit()
    assert_received_exactly(bed, captured)


def test_the_middleware_gives_captures_the_signed_in_user_and_the_url(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    server, port = _start_uvicorn(bed, spawn)
    captured: dict[tuple[str, str | None], str | None] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        for path in ("/upgrade", "/upgrade-sync"):
            for user in ("user_1", "user_2", None):
                headers = {"X-Test-User": user} if user else {}
                response = http.post(f"{path}?token=secret", headers=headers)
                response.raise_for_status()
                captured[path, user] = response.json()["uuid"]
        for user in ("user_3", "user_4"):  # the user is known in a dependency only
            path = "/upgrade-by-dependency"
            response = http.post(f"{path}?token=secret", headers={"X-Api-User": user})
            response.raise_for_status()
            captured[path, user] = response.json()["uuid"]
    server.signal(signal.SIGTERM)
    assert server.wait_exit() in (0, -signal.SIGTERM), server.output()

    anonymous = [uuid for (_, user), uuid in captured.items() if user is None]
    assert anonymous == [None, None], "a request with no user and no id must drop its capture"
    signed_in = {key: uuid for key, uuid in captured.items() if key[1] is not None}
    assert_received_exactly(bed, signed_in.values())
    by_uuid = {m["uuid"]: m for m in bed.messages}
    for (path, user), uuid in signed_in.items():
        assert_request_context(by_uuid[uuid], user, f"http://127.0.0.1:{port}{path}", path)
        assert by_uuid[uuid]["properties"]["plan"] == "pro"
