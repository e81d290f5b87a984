"""Fixtures shared by every test: the misbehaving ingest server and a refused port."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from httpbed import HttpBed, closed_port_url


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
