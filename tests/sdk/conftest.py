"""Fixtures for the threaded OakClient: clients pointed at the bed, with fast retries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from httpbed import HttpBed
from oakdata import OakClient

from ._support import FAST_OPTIONS, SECRET_KEY, MakeClient


@pytest.fixture(autouse=True)
def _no_ambient_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own OAK_* variables must not change what a test sees."""
    monkeypatch.delenv("OAK_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAK_HOST", raising=False)


@pytest.fixture(autouse=True)
def _oakdata_logger_restored() -> Iterator[None]:
    """debug=True may configure the 'oakdata' logger; no test leaks that into the next."""
    logger = logging.getLogger("oakdata")
    saved = (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]
    logger.disabled = saved[3]


@pytest.fixture
def make_client(bed: HttpBed) -> Iterator[MakeClient]:
    """make_client(**options) -> an OakClient on the bed; every one is shut down afterwards."""
    clients: list[OakClient] = []

    def make(**options: Any) -> OakClient:
        merged = {"host": bed.url, **FAST_OPTIONS, **options}
        secret_key = merged.pop("secret_key", SECRET_KEY)
        client = OakClient(secret_key, **merged)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=2)


@pytest.fixture
def oak(make_client: MakeClient) -> OakClient:
    return make_client()


