"""Fixtures shared by every test: the misbehaving ingest server and a refused port; and,
where scripts/test asks for it, a check that the packages under test are the installed
wheel's."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from httpbed import HttpBed, closed_port_url

# Set by scripts/test, which runs the suite against the wheel it built: a file missing
# from the wheel must fail the run, not be found in src/ instead.
INSTALLED_ONLY_ENV = "OAK_TEST_INSTALLED_ONLY"
SOURCE_DIR = Path(__file__).resolve().parent.parent / "src"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(INSTALLED_ONLY_ENV) != "1":
        return
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    for name in ("oakdata", "oakdata_server"):
        module = importlib.import_module(name)
        path = Path(module.__file__ or "").resolve()
        if path.is_relative_to(SOURCE_DIR) or not any(path.is_relative_to(d) for d in installed):
            raise pytest.UsageError(
                f"{INSTALLED_ONLY_ENV}=1, but {name} is imported from {path}, not from "
                f"this environment's site-packages ({', '.join(map(str, sorted(installed)))})"
            )


@pytest.fixture
def bed() -> Iterator[HttpBed]:
    """A fresh scriptable HTTP server on 127.0.0.1, shut down after the test."""
    server = HttpBed()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def refused_url() -> str:
    """A URL whose port is closed, so connecting is refused."""
    return closed_port_url()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A module with EVERY_ENGINE = True runs once per storage engine (tests/engines.py);
    # elsewhere the storage_url fixture is SQLite's.
    if "storage_url" in metafunc.fixturenames and getattr(metafunc.module, "EVERY_ENGINE", False):
        from engines import ENGINES

        metafunc.parametrize("storage_url", ENGINES, indirect=True)
