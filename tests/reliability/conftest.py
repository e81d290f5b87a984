"""Reliability runs: the real ingest server behind a fault-injecting proxy, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
