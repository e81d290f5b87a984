"""Half-sent requests are cut off and connections are bounded: real sockets, a real server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from oakdata_server.connections import DESCRIPTOR_RESERVE, connections_within_descriptors

from .conftest import RunningServer, message, post_batch, start_server

TIMEOUT_SECONDS = 0.5
MAX_CONNECTIONS = 20
WAIT_SECONDS = 10.0  # how long a test waits for the server to act; never reached when it works


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    thread, running = start_server(
        tmp_path_factory.mktemp("slow") / "oakdata.db",
        header_timeout_seconds=TIMEOUT_SECONDS,
        body_timeout_seconds=TIMEOUT_SECONDS,
        max_connections=MAX_CONNECTIONS,
    )
    yield running
    thread.stop()
    running.storage.close()


def _connect(server: RunningServer, first_bytes: bytes) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=WAIT_SECONDS)
    sock.sendall(first_bytes)
    return sock


def _answer_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def _half_sent(server: RunningServer) -> list[bytes]:
    """Partial headers, a partial body, a chunked body that never ends: with a valid key, so
    the server is waiting for the rest rather than answering 401 at once."""
    start = f"POST /api/oak/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.secret_key}"
    return [
        f"{start}\r\nContent-Ty".encode(),
        f'{start}\r\nContent-Length: 100\r\n\r\n{{"batch":'.encode(),
        f"{start}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".encode(),
    ]


def test_half_sent_requests_are_answered_408_and_closed(
    guarded: RunningServer, http: httpx.Client
) -> None:
    half_sent = _half_sent(guarded)
    sockets = [_connect(guarded, half_sent[i % 3]) for i in range(15)]
    answers = [_answer_until_closed(sock) for sock in sockets]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert post_batch(http, guarded, [message()]).status_code == 200


def test_connections_over_the_bound_are_refused_at_once_and_service_recovers(
    guarded: RunningServer,
) -> None:
    handler = _Records()
    logger = logging.getLogger("oakdata.server")
    logger.addHandler(handler)
    try:
        half_sent = _half_sent(guarded)
        holders = [_connect(guarded, half_sent[0]) for _ in range(MAX_CONNECTIONS)]
        # Sending nothing: a server closing on unread bytes resets, and the 503 may be lost.
        extra = [_connect(guarded, b"") for _ in range(30)]
        refused = [_answer_until_closed(sock) for sock in extra]
        assert all(a.startswith(b"HTTP/1.1 503") for a in refused), refused[:3]
        for sock in holders:
            _answer_until_closed(sock)
        # The slots are free again: a normal request is served at once.
        with httpx.Client(timeout=WAIT_SECONDS) as fresh:
            assert post_batch(fresh, guarded, [message()]).status_code == 200
    finally:
        logger.removeHandler(handler)
    # 50 refusals make a summary line or two, never a line (or a traceback) each.
    assert 1 <= len(handler.records) <= 3
    assert all(r.exc_info is None for r in handler.records)


def test_the_connection_bound_is_kept_under_the_descriptor_limit() -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        # The soft limit is raised towards the hard one when that allows the bound.
        wanted = min(hard, 4000) - DESCRIPTOR_RESERVE if hard != resource.RLIM_INFINITY else 900
        assert connections_within_descriptors(wanted) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted + DESCRIPTOR_RESERVE
        if hard != resource.RLIM_INFINITY:
            assert connections_within_descriptors(hard * 2) == hard - DESCRIPTOR_RESERVE
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_request_answered_before_its_body_arrives_gets_one_answer_only(
    guarded: RunningServer,
) -> None:
    # An unknown key: the server answers 401 at once and never reads the body, which never
    # comes. (Without any key it must read the body, which may carry a public key.)
    sock = _connect(
        guarded,
        b"POST /api/oak/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer oak_sec_00000000x\r\n"
        b"Content-Length: 50\r\n\r\n{",
    )
    answer = _answer_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 401")
    assert answer.count(b"HTTP/1.1") == 1
