"""Spool tests: real files in tmp_path, real processes, the real HTTP bed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

SECRET_KEY = "oak_sec_spooltest"

RunScript = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OAK_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAK_HOST", raising=False)


@pytest.fixture
def run_script() -> RunScript:
    """Run a Python snippet in a fresh interpreter; returns the finished process."""

    def run(source: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
