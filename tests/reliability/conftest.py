"""Reliability runs: the real ingest server behind a fault-injecting proxy, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import engine_url

from .ingest import IngestServer


@pytest.fixture
def ingest_server(tmp_path: Path) -> Iterator[IngestServer]:
    """A fresh server on its own SQLite file, stopped after the test."""
    server = IngestServer(tmp_path / "oakdata.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database: SQLite's, or every engine's where the module says EVERY_ENGINE."""
    with engine_url(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url
