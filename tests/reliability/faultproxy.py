"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between the SDK and the real ingest server.

The proxy reads each request whole (head and ``Content-Length`` body) from the client, asks its
*plan* what to do with request number ``n`` (0-based, counted over all connections), and does it:

- ``Forward()``: send the request to the server, read its whole answer, pass it back.
- ``LoseResponse()``: forward, read the server's whole answer (so the batch *is* stored), then
  reset the client's connection without a byte of it: the client cannot know it was stored.
- ``ResetBeforeForwarding()``: reset the client's connection; the server never sees the request.
- ``Inject(status, headers)``: answer in the server's place (a 500, a 429 with Retry-After, a 403).
- ``Stall(seconds)``: answer nothing for that long (so a client times out), then close.

Every request is recorded as a ``Hop`` (what was done, when, the server's status and counts),
and conditions are waited on with a ``threading.Condition``, never a sleep loop. Threads, not
asyncio: one per client connection, each blocking on its own sockets, all stopped by ``close``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Union

IO_TIMEOUT_SECONDS = 15.0
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Forward:
    pass


@dataclass(frozen=True)
class LoseResponse:
    pass


@dataclass(frozen=True)
class ResetBeforeForwarding:
    pass


@dataclass(frozen=True)
class Inject:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    seconds: float


Action = Union[Forward, LoseResponse, ResetBeforeForwarding, Inject, Stall]  # noqa: UP007
Plan = Callable[[int], Action]

_REASONS = {
    200: "OK",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Hop:
    """One request through the proxy and what became of it."""

    number: int
    action: str
    at: float  # time.monotonic() when the request had been read whole
    upstream_status: int | None = None  # the server's status, when it was asked
    accepted: int = 0  # from the server's 2xx body
    duplicates: int = 0


class _Closed(Exception):
    """The peer closed the connection between requests: the normal end of a connection."""


class FaultProxy:
    """``with FaultProxy(upstream_port, plan) as proxy:`` listens on ``proxy.url``."""

    def __init__(self, upstream_port: int, plan: Plan | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._plan: Plan = plan or (lambda _n: Forward())
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.hops: list[Hop] = []
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="faultproxy-accept", daemon=True
        )

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def set_plan(self, plan: Plan) -> None:
        with self._changed:
            self._plan = plan

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=IO_TIMEOUT_SECONDS)
        for thread in list(self._threads):
            thread.join(timeout=IO_TIMEOUT_SECONDS)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ observing

    def wait_for(self, condition: Callable[[list[Hop]], bool], timeout: float) -> bool:
        """Wait until ``condition(hops)`` holds; False if ``timeout`` ran out first."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.hops), timeout=timeout)

    def count(self, action: type) -> int:
        with self._changed:
            return sum(1 for hop in self.hops if hop.action == action.__name__)

    def snapshot(self) -> list[Hop]:
        with self._changed:
            return list(self.hops)

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._changed:
                if self._closing.is_set():
                    connection.close()
                    return
                self._connections.add(connection)
                thread = threading.Thread(
                    target=self._serve, args=(connection,), name="faultproxy-conn", daemon=True
                )
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(IO_TIMEOUT_SECONDS)
        reader = client.makefile("rb")
        upstream: socket.socket | None = None
        upstream_reader = None
        try:
            while not self._closing.is_set():
                try:
                    request = _read_message(reader)
                except (_Closed, OSError, ValueError):
                    return
                with self._changed:
                    number = len(self.hops)
                    action = self._plan(number)
                    hop = Hop(number, type(action).__name__, time.monotonic())
                    self.hops.append(hop)
                    self._changed.notify_all()
                if isinstance(action, ResetBeforeForwarding):
                    _reset(client)
                    return
                if isinstance(action, Inject):
                    client.sendall(_injected(action))
                    continue
                if isinstance(action, Stall):
                    self._closing.wait(action.seconds)  # deliberate: the client must time out
                    return
                try:
                    if upstream is None:
                        upstream = socket.create_connection(self.upstream, IO_TIMEOUT_SECONDS)
                        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        upstream_reader = upstream.makefile("rb")
                    upstream.sendall(request)
                    assert upstream_reader is not None
                    response = _read_message(upstream_reader)
                except (_Closed, OSError, ValueError):
                    # The server is down or went away mid-exchange: the client sees a reset.
                    _reset(client)
                    return
                self._record_answer(hop, response)
                if isinstance(action, LoseResponse):
                    _reset(client)
                    return
                client.sendall(response)
        finally:
            with self._changed:
                self._connections.discard(client)
            for closable in (reader, upstream_reader, upstream, client):
                if closable is not None:
                    with contextlib.suppress(OSError):
                        closable.close()

    def _record_answer(self, hop: Hop, response: bytes) -> None:
        head, _, body = response.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        accepted = duplicates = 0
        if 200 <= status < 300:
            try:
                document = json.loads(body)
                accepted, duplicates = int(document["accepted"]), int(document["duplicates"])
            except (ValueError, KeyError, TypeError):
                pass
        with self._changed:
            hop.upstream_status = status
            hop.accepted = accepted
            hop.duplicates = duplicates
            self._changed.notify_all()


def _read_message(reader: object) -> bytes:
    """One HTTP/1.1 request or response with a Content-Length body (or none), as raw bytes."""
    readline = reader.readline  # type: ignore[attr-defined]
    read = reader.read  # type: ignore[attr-defined]
    first = readline(MAX_HEAD_BYTES)
    if not first:
        raise _Closed
    lines = [first]
    length = 0
    while True:
        line = readline(MAX_HEAD_BYTES)
        if not line:
            raise _Closed
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked bodies are not supported by the fault proxy")
    body = read(length) if length else b""
    if len(body) != length:
        raise _Closed
    return b"".join(lines) + body


def _injected(action: Inject) -> bytes:
    body = json.dumps(
        {"error": {"code": "injected", "message": f"Injected {action.status} by the fault proxy."}}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **action.headers,
    }
    head = f"HTTP/1.1 {action.status} {_REASONS.get(action.status, 'Error')}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def _reset(connection: socket.socket) -> None:
    # SO_LINGER 0: close() sends RST instead of FIN, which is what a crashed peer looks like.
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
