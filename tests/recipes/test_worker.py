"""A plain long-running worker stopped by SIGTERM: every event it captured arrives once,
and the process still ends the way SIGTERM ends it."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

from httpbed import Delay, HttpBed

from .conftest import APPS_DIR, Child, assert_received_exactly, child_env

MIN_CAPTURED = 150


def _captured(worker: Child) -> list[str]:
    return [line.split()[1] for line in worker.lines_matching("captured ", "stdout")]


def _run_worker(bed: HttpBed, spawn: Callable[..., Child]) -> tuple[Child, list[str]]:
    worker = spawn([sys.executable, str(APPS_DIR / "recipe_worker.py")], child_env(bed))
    worker.wait_for(
        lambda: len(worker.lines_matching("captured ", "stdout")) >= MIN_CAPTURED,
        f"{MIN_CAPTURED} captured events",
    )
    worker.signal(signal.SIGTERM)
    code = worker.wait_exit()
    return worker, _captured(worker) if code == -signal.SIGTERM else []


def test_sigterm_delivers_every_captured_event_then_ends_the_process(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    worker, captured = _run_worker(bed, spawn)

    assert worker.proc.returncode == -signal.SIGTERM, worker.output()
    assert len(captured) >= MIN_CAPTURED
    assert_received_exactly(bed, captured)


def test_sigterm_still_ends_the_process_when_the_server_hangs(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    bed.responder = lambda request: Delay(60)
    worker = spawn([sys.executable, str(APPS_DIR / "recipe_worker.py")], child_env(bed))
    worker.wait_for(lambda: bool(_captured(worker)), "a captured event")

    worker.signal(signal.SIGTERM)

    # the handler's 5 s budget, plus the atexit hook's 5 s at most, plus start-up slack
    assert worker.wait_exit(timeout=15) == -signal.SIGTERM, worker.output()
