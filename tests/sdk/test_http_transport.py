"""The default transport's own behaviour: proxies from the environment (a plain HTTP
proxy, and a CONNECT tunnel for https)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from httpbed import HttpBed
from oakdata._wire import NetworkError, Request, Response
from oakdata.transports.http import HttpTransport

HEADERS = {"Authorization": "Bearer oak_sec_x", "Content-Type": "application/json"}
BODY = b'{"batch":[],"sent_at":"2026-01-01T00:00:00.000000Z"}'


def test_a_plain_http_proxy_from_the_environment_gets_the_absolute_uri(
    bed: HttpBed, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HTTP_PROXY", bed.url)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    transport = HttpTransport()
    try:
        url = "http://ingest.example:8123/api/oak/ingest"
        result = transport.send(Request(url, HEADERS, BODY, timeout=5))
    finally:
        transport.close()
    assert isinstance(result, Response)
    assert result.status == 200
    (request,) = bed.requests
    assert request.path == url
    assert request.body == BODY


@pytest.fixture
def connect_proxy() -> Iterator[tuple[str, list[bytes]]]:
    """A proxy that accepts one CONNECT, answers 200, and records what comes through."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                head += connection.recv(4096)
            received.append(head)
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            received.append(connection.recv(4096))  # what the client sends in the tunnel

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://user:p%40ss@127.0.0.1:{listener.getsockname()[1]}", received
    thread.join(5)
    listener.close()


def test_an_https_url_goes_through_a_connect_tunnel_with_the_proxys_credentials(
    connect_proxy: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
):
    proxy_url, received = connect_proxy
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    transport = HttpTransport()
    try:
        request = Request("https://ingest.example/api/oak/ingest", HEADERS, BODY, timeout=5)
        result = transport.send(request)
    finally:
        transport.close()
    # The proxy closes the tunnel after the client's first bytes, so the send fails.
    assert isinstance(result, NetworkError)
    connect_head, in_tunnel = received
    assert connect_head.startswith(b"CONNECT ingest.example:443 HTTP/1.")  # 1.0 before 3.12
    assert b"Proxy-Authorization: Basic dXNlcjpwQHNz\r\n" in connect_head  # user:p@ss
    assert in_tunnel[:1] == b"\x16"  # a TLS handshake record: the request waits for it
    assert b"oak_sec_x" not in in_tunnel
