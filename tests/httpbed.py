"""A real, scriptable, misbehaving HTTP ingest server on 127.0.0.1 for tests.

The bed answers every request with a *behaviour*. Behaviours come, in this order, from the
queue filled by ``bed.script(...)`` (one per request), then from ``bed.responder(request)``
when it returns something, then from the default: ``200`` with
``{"accepted": n, "duplicates": 0, "rejected": []}``.

Behaviours:

- ``Reply(status, body=None, headers=None)``: a complete answer. ``body`` may be a dict/list
  (sent as JSON), ``str``, ``bytes``, a callable ``(request) -> body``, or ``None`` (the
  default accepted body for 2xx, an ``{"error": ...}`` body otherwise).
- ``Delay(seconds, then=Reply(200))``: wait (on an Event that teardown sets, so a closing bed
  never waits it out), then behave as ``then``.
- ``CloseWithoutReply()``: read the request, then close the socket without a byte.
- ``ResetConnection()``: read the request, then close with ``SO_LINGER`` 0, so the peer gets RST.
- ``PartialReply()``: status line and headers with the full ``Content-Length``, half the body,
  then close.

Every request is recorded (before its behaviour runs) as a ``BedRequest``; waiting for
requests or messages uses a ``threading.Condition``, never a sleep loop.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

DEFAULT_WAIT_SECONDS = 10.0


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Behaviour = field(default_factory=Reply)


@dataclass(frozen=True)
class CloseWithoutReply:
    pass


@dataclass(frozen=True)
class ResetConnection:
    pass


@dataclass(frozen=True)
class PartialReply:
    status: int = 200


Behaviour = Union[Reply, Delay, CloseWithoutReply, ResetConnection, PartialReply]  # noqa: UP007


# --------------------------------------------------------------------------- requests


@dataclass
class BedRequest:
    """One request as the bed received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    body: bytes  # gunzipped when Content-Encoding says gzip
    json: Any  # parsed body, or None when it is not JSON
    messages: list[dict[str, Any]]  # json["batch"] when present, else []
    received_at: float
    client_port: int = 0  # the peer's port: one value across requests means a kept-alive socket
    status: int | None = None  # the status answered in full; None for close/reset/partial
    outcome: str = "pending"  # "replied", "closed", "reset", "partial", "aborted"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def delivered(self) -> bool:
        return self.outcome == "replied" and self.status is not None and 200 <= self.status < 300


def _decode_body(raw: bytes, encoding: str | None) -> bytes:
    if encoding and encoding.lower() == "gzip":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            return raw
    return raw


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def accepted_body(request: BedRequest) -> dict[str, Any]:
    return {"accepted": len(request.messages), "duplicates": 0, "rejected": []}


def error_body(status: int) -> dict[str, Any]:
    return {"error": {"code": f"http_{status}", "message": f"scripted {status}"}}


# --------------------------------------------------------------------------- rules


def reject_413_when(
    *, max_messages: int | None = None, max_message_bytes: int | None = None
) -> Callable[[BedRequest], Behaviour | None]:
    """A responder answering 413 when the batch holds more than ``max_messages`` messages
    or any message serializes to more than ``max_message_bytes`` bytes."""

    def responder(request: BedRequest) -> Behaviour | None:
        if max_messages is not None and len(request.messages) > max_messages:
            return Reply(413)
        if max_message_bytes is not None:
            for message in request.messages:
                if len(json.dumps(message).encode()) > max_message_bytes:
                    return Reply(413)
        return None

    return responder


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    bed: HttpBed

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Misbehaving on purpose produces broken pipes; tests do not want the tracebacks.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle kept-alive connection does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        self.server.bed._track(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.bed._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        bed = self.server.bed
        raw = self._read_body()
        body = _decode_body(raw, self.headers.get("Content-Encoding"))
        parsed = _parse_json(body)
        batch = parsed.get("batch") if isinstance(parsed, dict) else None
        messages = [m for m in batch if isinstance(m, dict)] if isinstance(batch, list) else []
        request = BedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            raw_body=raw,
            body=body,
            json=parsed,
            messages=messages,
            received_at=time.monotonic(),
            client_port=self.client_address[1],
        )
        behaviour = bed._record_and_choose(request)
        self._behave(request, behaviour)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle

    def _behave(self, request: BedRequest, behaviour: Behaviour) -> None:
        bed = self.server.bed
        while isinstance(behaviour, Delay):
            if bed._stopping.wait(behaviour.seconds):
                self._finish(request, "aborted", None)
                self.close_connection = True
                return
            behaviour = behaviour.then
        if isinstance(behaviour, CloseWithoutReply):
            self._finish(request, "closed", None)
            self.close_connection = True
            return
        if isinstance(behaviour, ResetConnection):
            self._finish(request, "reset", None)
            self.close_connection = True
            # SO_LINGER with a zero timeout turns close() into an RST. rfile holds a
            # reference to the socket, so it is closed too or close() would be deferred.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                self.rfile.close()
            self.connection.close()
            return
        if isinstance(behaviour, PartialReply):
            payload = json.dumps(accepted_body(request)).encode()
            self._finish(request, "partial", None)
            self.send_response(behaviour.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        assert isinstance(behaviour, Reply), f"unknown behaviour {behaviour!r}"
        body = behaviour.body
        if callable(body):
            body = body(request)
        if body is None:
            body = (
                accepted_body(request)
                if 200 <= behaviour.status < 300
                else error_body(behaviour.status)
            )
        headers = dict(behaviour.headers or {})
        if isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            payload = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = bytes(body)
        # Settled before the first byte leaves, so a client that has read the answer always
        # finds the request settled.
        self._finish(request, "replied", behaviour.status)
        self.send_response(behaviour.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _finish(self, request: BedRequest, outcome: str, status: int | None) -> None:
        self.server.bed._settle(request, outcome, status)


class HttpBed:
    """The server, its records and its script. Use as a context manager or call close()."""

    def __init__(self, port: int = 0) -> None:
        """port 0: any free port. A given port lets a test refuse connections first and
        start listening there later (a server coming back after an outage)."""
        self._cond = threading.Condition()
        self._requests: list[BedRequest] = []
        self._script: deque[Behaviour] = deque()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.responder: Callable[[BedRequest], Behaviour | None] | None = None
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.bed = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # shutdown() waits for the serve loop's next poll: keep it short, every test pays it.
            kwargs={"poll_interval": 0.01},
            name=f"httpbed-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # ----------------------------------------------------------------- scripting

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, consumed one per request, before the responder and default."""
        with self._cond:
            self._script.extend(behaviours)

    # ----------------------------------------------------------------- records

    @property
    def requests(self) -> list[BedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """All messages of all batches received, in order, whatever was answered."""
        with self._cond:
            return [m for r in self._requests for m in r.messages]

    @property
    def delivered_messages(self) -> list[dict[str, Any]]:
        """Messages of the requests answered with a complete 2xx."""
        with self._cond:
            return [m for r in self._requests if r.delivered for m in r.messages]

    def uuids(self, messages: Iterable[dict[str, Any]] | None = None) -> list[str]:
        return [m.get("uuid") for m in (self.messages if messages is None else messages)]

    # ----------------------------------------------------------------- waiting

    def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = DEFAULT_WAIT_SECONDS,
        what: str = "condition",
    ) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(
                    f"httpbed: timed out after {timeout}s waiting for {what}; "
                    f"saw {len(self._requests)} request(s), "
                    f"{sum(len(r.messages) for r in self._requests)} message(s), "
                    f"outcomes {[(r.outcome, r.status) for r in self._requests][-10:]}"
                )

    def wait_for_requests(self, n: int, timeout: float = DEFAULT_WAIT_SECONDS) -> list[BedRequest]:
        self.wait_for(lambda: len(self._requests) >= n, timeout, f"{n} request(s)")
        return self.requests

    def wait_for_messages(
        self, n: int, timeout: float = DEFAULT_WAIT_SECONDS
    ) -> list[dict[str, Any]]:
        self.wait_for(
            lambda: sum(len(r.messages) for r in self._requests) >= n,
            timeout,
            f"{n} message(s)",
        )
        return self.messages

    def wait_for_delivered(
        self, n: int, timeout: float = DEFAULT_WAIT_SECONDS
    ) -> list[dict[str, Any]]:
        self.wait_for(
            lambda: sum(len(r.messages) for r in self._requests if r.delivered) >= n,
            timeout,
            f"{n} delivered message(s)",
        )
        return self.delivered_messages

    def wait_for_settled(self, n: int, timeout: float = DEFAULT_WAIT_SECONDS) -> list[BedRequest]:
        """Wait until at least n requests have been answered (or closed, reset, cut)."""
        self.wait_for(
            lambda: sum(1 for r in self._requests if r.outcome != "pending") >= n,
            timeout,
            f"{n} settled request(s)",
        )
        return self.requests

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=DEFAULT_WAIT_SECONDS)

    def __enter__(self) -> HttpBed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- handler side

    def _record_and_choose(self, request: BedRequest) -> Behaviour:
        with self._cond:
            self._requests.append(request)
            behaviour: Behaviour | None = self._script.popleft() if self._script else None
            responder = self.responder
            self._cond.notify_all()
        if behaviour is None and responder is not None:
            behaviour = responder(request)
        return behaviour if behaviour is not None else Reply(200)

    def _settle(self, request: BedRequest, outcome: str, status: int | None) -> None:
        with self._cond:
            request.outcome = outcome
            request.status = status
            self._cond.notify_all()

    def _track(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 whose port was just free: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
