"""Constants and assertions shared by the SDK tests."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import oakdata
from oakdata import DROP_REASONS, AsyncOakClient, OakClient, Stats

# Distinctive, so that a leak into a log line, a repr or an exception text is easy to find.
SECRET_KEY = "oak_sec_T0pS3cretValue_9f8e7d6c5b4a"

# Fast retries and no timer: requests leave on flush_at, flush() and shutdown() only, so each
# test decides when batches are cut.
FAST_OPTIONS: dict[str, Any] = {
    "retry_initial_delay": 0.01,
    "max_retries": 2,
    "flush_interval": 0,
    "request_timeout": 5.0,
}

WAIT_SECONDS = 10.0
# A child Python that captures and exits; its own exit flush is bounded well below this.
SUBPROCESS_SECONDS = 60

# An OakClient, or an AsyncOakClient behind the synchronous adapter (see conftest.py).
Client = Any
MakeClient = Callable[..., Client]


def sdk_client(client: Client) -> OakClient | AsyncOakClient:
    """The SDK's own object behind a test's client (the adapter's, for asyncio)."""
    return getattr(client, "client", client)


def assert_consistent(stats: Stats) -> None:
    """The invariant Stats promises, and every drop reason present."""
    assert set(stats.dropped) == set(DROP_REASONS), stats
    assert all(count >= 0 for count in stats.dropped.values()), stats
    assert stats.captured == stats.delivered + stats.queued + stats.dropped_total, stats


def dropped_only(stats: Stats, **expected: int) -> None:
    """Assert the drop counters are exactly `expected`, every other reason zero."""
    wanted = dict.fromkeys(DROP_REASONS, 0)
    wanted.update(expected)
    assert dict(stats.dropped) == wanted


def new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Live threads started since `before`, leaving out the bed's own request handlers."""
    return {
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and "process_request_thread" not in t.name
    }


def run_python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """script in a fresh interpreter (python -c script args...), its output captured."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        check=False,
    )


def mypy_strict(program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """(mypy's output, its exit status) for a user's program, checked with --strict."""
    api = pytest.importorskip("mypy.api")
    path = tmp_path / "user_program.py"
    path.write_text(program)
    source = Path(oakdata.__file__).parent.parent
    if "site-packages" not in source.parts:
        # Run from a checkout (PYTHONPATH=src): mypy must be shown where oakdata is. An
        # installed oakdata it finds itself, and refuses site-packages in MYPYPATH.
        monkeypatch.setenv("MYPYPATH", str(source))
    stdout, stderr, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
         "--python-version", "3.10", str(path)]
    )  # fmt: skip
    return stdout + stderr, status
