"""Answers are read by http.client's rules: headers without the email package but as
http.client's own parse reads them; and both transports, the blocking one and the asyncio
one, read every way an answer's body can end, broken answers included, from a real socket,
plain and TLS."""

from __future__ import annotations

import asyncio
import http.client
import io
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from oakdata._wire import NetworkError, Request, Response
from oakdata.transports._http11 import header_items
from oakdata.transports.async_http import AsyncHttpTransport
from oakdata.transports.http import HttpTransport

HEADERS = {"Authorization": "Bearer oak_sec_x", "Content-Type": "application/json"}
BODY = b'{"batch":[],"sent_at":"2026-01-01T00:00:00.000000Z"}'
ACCEPTED = b'{"accepted":0,"duplicates":0,"rejected":[]}'


def _both_ways(block: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    ours = header_items(io.BytesIO(block).readlines())
    theirs = http.client.parse_headers(io.BytesIO(block))
    return ours, list(theirs.items())


@pytest.mark.parametrize(
    "block",
    [
        b"\r\n",
        b"Content-Type: application/json\r\nContent-Length: 54\r\n\r\n",
        b"Retry-After:7\r\nX-Spaced:   padded value  \r\n\r\n",
        b"Set-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n",  # repeated, in either case
        b"X-Folded: first\r\n  second\r\n\tthird\r\nX-After: 1\r\n\r\n",  # obsolete folding
        b"X-Latin: caf\xe9\r\nX-Empty:\r\nX-Colons: a:b:c\r\n\r\n",
        b"Content-Length: 2\n\n",  # bare LF line ends
    ],
    ids=["none", "plain", "spacing", "repeated", "folded", "latin-1 and edge values", "LF"],
)
def test_headers_read_as_http_client_reads_them(block: bytes):
    ours, theirs = _both_ways(block)
    assert ours == theirs


header_names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=30)


@given(
    st.lists(
        st.tuples(header_names.filter(lambda name: ":" not in name), header_values),
        max_size=8,
    )
)
def test_any_well_formed_header_block_reads_as_http_client_reads_it(fields):
    block = b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in fields)
    ours, theirs = _both_ways(block + b"\r\n")
    assert ours == theirs


def test_a_line_that_is_no_header_is_skipped():
    lines = [b"X-Good: 1\r\n", b"no colon here\r\n", b"Bad Name: x\r\n", b"X-Next: 2\r\n", b"\r\n"]
    assert header_items(lines) == [("X-Good", "1"), ("X-Next", "2")]


class ScriptedServer:
    """Answers each request on 127.0.0.1 with the next scripted bytes, as they are; closes
    the connection after an answer scripted with close=True. Counts connections."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._tls = tls
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/api/oak/ingest"
        self.answers: deque[tuple[bytes, bool]] = deque()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def script(self, answer: bytes, *, close: bool = False) -> None:
        self.answers.append((answer, close))

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below (Linux)
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            self.connections += 1
            if self._tls is not None:
                try:
                    connection = self._tls.wrap_socket(connection, server_side=True)
                except OSError:  # the client refused the certificate (ssl.SSLError)
                    connection.close()
                    continue
            with connection:
                connection.settimeout(5)
                while self.answers and self._read_request(connection):
                    answer, close = self.answers.popleft()
                    connection.sendall(answer)
                    if close:
                        break

    @staticmethod
    def _read_request(connection: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
            ).split(b":")[1]
        )
        while len(body) < length:
            body += connection.recv(65536)
        return True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


SendTwice = Callable[[ScriptedServer], list[Response]]


def _send_twice_blocking(
    server: ScriptedServer, context: ssl.SSLContext | None = None
) -> list[Response | NetworkError]:
    transport = HttpTransport(ssl_context=context)
    try:
        return [transport.send(Request(server.url, HEADERS, BODY, timeout=5)) for _ in range(2)]
    finally:
        transport.close()


def _send_twice_async(
    server: ScriptedServer, context: ssl.SSLContext | None = None
) -> list[Response | NetworkError]:
    async def send() -> list[Response | NetworkError]:
        transport = AsyncHttpTransport(ssl_context=context)
        try:
            return [
                await transport.send(Request(server.url, HEADERS, BODY, timeout=5))
                for _ in range(2)
            ]
        finally:
            await transport.aclose()

    return asyncio.run(send())


@pytest.fixture(params=["blocking", "asyncio"])
def send_twice(request: pytest.FixtureRequest) -> SendTwice:
    """Two requests in a row through one transport, each answered as the server scripts."""
    send = _send_twice_blocking if request.param == "blocking" else _send_twice_async

    def send_and_check(server: ScriptedServer) -> list[Response]:
        results = send(server)
        assert all(isinstance(result, Response) for result in results), results
        return results  # type: ignore[return-value]

    return send_and_check


def test_an_answer_of_known_length_keeps_the_connection(
    server: ScriptedServer, send_twice: SendTwice
):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED)
    server.script(answer)
    server.script(answer)
    results = send_twice(server)
    assert [(result.status, result.body) for result in results] == [(200, ACCEPTED)] * 2
    assert server.connections == 1


def test_a_chunked_answer_is_read_whole_and_keeps_the_connection(
    server: ScriptedServer, send_twice: SendTwice
):
    chunks = b"10\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        ACCEPTED[:16],
        len(ACCEPTED) - 16,
        ACCEPTED[16:],
    )
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    server.script(chunked)
    server.script(chunked)
    results = send_twice(server)
    assert [result.body for result in results] == [ACCEPTED, ACCEPTED]
    assert server.connections == 1


def test_an_answer_that_closes_the_connection_is_followed_by_a_new_one(
    server: ScriptedServer, send_twice: SendTwice
):
    server.script(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 7\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        close=True,
    )
    server.script(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED))
    first, second = send_twice(server)
    assert (first.status, first.headers["retry-after"], first.body) == (503, "7", b"{}")
    assert (second.status, second.body) == (200, ACCEPTED)
    assert server.connections == 2


def test_an_http_1_0_answer_without_length_is_read_until_the_connection_closes(
    server: ScriptedServer, send_twice: SendTwice
):
    for _ in range(2):
        server.script(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + ACCEPTED, close=True
        )
    results = send_twice(server)
    assert [result.body for result in results] == [ACCEPTED, ACCEPTED]
    assert server.connections == 2


def test_an_interim_100_continue_is_skipped(server: ScriptedServer, send_twice: SendTwice):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED)
    server.script(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" + answer)
    server.script(answer)
    first, _ = send_twice(server)
    assert (first.status, first.body) == (200, ACCEPTED)
    assert "x-interim" not in first.headers


def test_a_no_content_answer_has_no_body_and_keeps_the_connection(
    server: ScriptedServer, send_twice: SendTwice
):
    server.script(b"HTTP/1.1 204 No Content\r\n\r\n")
    server.script(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED))
    first, second = send_twice(server)
    assert (first.status, first.body) == (204, b"")
    assert (second.status, second.body) == (200, ACCEPTED)
    assert server.connections == 1


@pytest.mark.parametrize("length", [b"-1", b"two"])
def test_a_length_that_is_no_length_is_read_until_the_connection_closes(
    server: ScriptedServer, send_twice: SendTwice, length: bytes
):
    for _ in range(2):
        server.script(
            b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n%s" % (length, ACCEPTED), close=True
        )
    results = send_twice(server)
    assert [result.body for result in results] == [ACCEPTED, ACCEPTED]
    assert server.connections == 2


def test_a_folded_header_and_a_chunked_trailer_are_read_past(
    server: ScriptedServer, send_twice: SendTwice
):
    chunks = b"%x\r\n%s\r\n0\r\nX-Checksum: 1\r\n\r\n" % (len(ACCEPTED), ACCEPTED)
    for retry_after in (b"7", b"8"):
        server.script(
            b"HTTP/1.1 503 Unavailable\r\nX-Folded: first\r\n second\r\nRetry-After: %s\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%s" % (retry_after, chunks)
        )
    first, second = send_twice(server)
    assert [(r.status, r.headers["retry-after"], r.body) for r in (first, second)] == [
        (503, "7", ACCEPTED),
        (503, "8", ACCEPTED),
    ]
    assert first.headers["x-folded"].split() == ["first", "second"]
    assert server.connections == 1


@pytest.mark.parametrize(
    ("keep_alive", "connections"), [(b"", 2), (b"Connection: keep-alive\r\n", 1)]
)
def test_an_http_1_0_answer_keeps_the_connection_only_when_it_says_so(
    server: ScriptedServer, send_twice: SendTwice, keep_alive: bytes, connections: int
):
    # As http.client decides: HTTP/1.0 closes unless the server offers to keep it.
    answer = b"HTTP/1.0 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (
        keep_alive,
        len(ACCEPTED),
        ACCEPTED,
    )
    server.script(answer)
    server.script(answer)
    assert [result.body for result in send_twice(server)] == [ACCEPTED, ACCEPTED]
    assert server.connections == connections


def test_a_connection_the_server_dropped_while_idle_is_replaced_at_once(
    server: ScriptedServer, send_twice: SendTwice
):
    # The server closes after its first answer without saying so: the second request finds
    # the kept connection dead and goes out again, once, on a fresh one.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED)
    server.script(answer, close=True)
    server.script(answer)
    assert [result.status for result in send_twice(server)] == [200, 200]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "connection closed mid-response"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "connection closed mid-response"),
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.1 answer"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", "not an HTTP/1.1 answer"),
    ],
    ids=["body cut short", "headers cut short", "not HTTP", "a line too long"],
)
@pytest.mark.parametrize("transport", ["blocking", "asyncio"])
def test_a_broken_answer_is_a_network_error_naming_its_cause(
    server: ScriptedServer, answer: bytes, cause: str, transport: str
):
    server.script(answer, close=True)
    if transport == "blocking":
        result = _send_twice_blocking(server)[0]
    else:
        result = _send_twice_async(server)[0]
    assert result == NetworkError(cause)


@pytest.mark.parametrize("transport", ["blocking", "asyncio"])
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_https_to_the_server_verifies_its_certificate(transport: str, trusted: bool):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()  # the system's CAs: not this one
    if trusted:
        ca.configure_trust(client_context)
    server = ScriptedServer(tls=server_context)
    try:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ACCEPTED), ACCEPTED)
        server.script(answer)
        server.script(answer)
        send = _send_twice_blocking if transport == "blocking" else _send_twice_async
        results = send(server, client_context)
    finally:
        server.close()
    if trusted:
        assert [(r.status, r.body) for r in results] == [(200, ACCEPTED)] * 2  # type: ignore[union-attr]
        assert server.connections == 1
    else:
        assert results == [NetworkError("TLS error (CERTIFICATE_VERIFY_FAILED)")] * 2
