"""Fixtures: clients pointed at the bed, with fast retries, one of each kind.

Every test that asks for ``make_client``, ``new_client`` or ``oak`` runs twice, as
``test_x[thread]`` against OakClient and as ``test_x[asyncio]`` against AsyncOakClient
driven from inside a running event loop (see _async_adapter.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from httpbed import HttpBed
from oakdata import AsyncOakClient, OakClient

from ._async_adapter import AsyncClientAdapter, LoopThread
from ._support import FAST_OPTIONS, SECRET_KEY, Client, MakeClient

CLIENT_KINDS = ["thread", "asyncio"]

# Teardown only tidies up: a test that wanted everything delivered has asserted it already.
TEARDOWN_SHUTDOWN_SECONDS = 0.5


@pytest.fixture(autouse=True)
def _no_ambient_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own OAK_* and proxy variables must not change what a test sees."""
    for name in ("OAK_SECRET_KEY", "OAK_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


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


@pytest.fixture(params=CLIENT_KINDS)
def client_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def client_class(client_kind: str) -> type[OakClient] | type[AsyncOakClient]:
    """The SDK class itself, for tests about the object rather than its calls."""
    return OakClient if client_kind == "thread" else AsyncOakClient


@pytest.fixture
def new_client(client_kind: str) -> Iterator[MakeClient]:
    """new_client(*args, **options) -> the client of this kind built from exactly these
    arguments (no defaults added); every one is shut down afterwards.

    For asyncio, the loop is running before the test starts and is built and driven inside
    it; it is stopped and closed after the clients are shut down.
    """
    loop = LoopThread() if client_kind == "asyncio" else None
    clients: list[Client] = []

    def new(*args: Any, **options: Any) -> Client:
        client: Client
        if loop is None:
            client = OakClient(*args, **options)
        else:
            client = AsyncClientAdapter(loop, loop.call(AsyncOakClient, *args, **options))
        clients.append(client)
        return client

    try:
        yield new
        for client in clients:
            client.shutdown(timeout=TEARDOWN_SHUTDOWN_SECONDS)
    finally:
        if loop is not None:
            loop.close()


@pytest.fixture
def make_client(bed: HttpBed, new_client: MakeClient) -> MakeClient:
    """make_client(**options) -> a client of this kind on the bed, with FAST_OPTIONS."""

    def make(**options: Any) -> Client:
        merged = {"host": bed.url, **FAST_OPTIONS, **options}
        secret_key = merged.pop("secret_key", SECRET_KEY)
        return new_client(secret_key, **merged)

    return make


@pytest.fixture
def oak(make_client: MakeClient) -> Client:
    return make_client()
