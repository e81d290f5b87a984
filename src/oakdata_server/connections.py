"""Bounding what a slow or hostile client can hold: time per request, connections at once.

uvicorn times out idle keep-alive connections, but not a request that is being sent: a client
that sends half its headers, half its body or a chunked body that never ends holds a
connection (and a file descriptor) for ever, and `limit_concurrency` only counts requests whose
headers are complete. So this is uvicorn's own h11 protocol with two additions:

- a deadline per request: `header_timeout` from the first byte (or the end of the previous
  response) until the headers are complete, then `body_timeout` until the body is; when it
  passes the connection is answered 408 (if nothing was answered yet) and closed;
- a bound on open connections: one over `max_connections` is answered 503 and closed at once,
  before it can hold anything.

A subclass of uvicorn's protocol rather than another server: uvicorn is already the server the
project runs, and the addition needs only its documented `http=` protocol-class setting and
h11's public connection states. Refusals are logged as a summary (logsummary), and uvicorn's
and asyncio's own per-connection warnings are summarized the same way (`StormFilter`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from oakdata_server.logsummary import SummaryLog
from oakdata_server.settings import Settings

_log = logging.getLogger("oakdata.server")


def _raw_response(status: str, code: str, message: str, extra: str = "") -> bytes:
    """A whole HTTP/1.1 response, written before closing, without going through the app."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"{extra}content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_REQUEST_TIMEOUT = _raw_response(
    "408 Request Timeout", "request_timeout", "The request was not sent in time."
)
_TOO_MANY_CONNECTIONS = _raw_response(
    "503 Service Unavailable",
    "too_many_connections",
    "The server has too many open connections; retry shortly.",
    "retry-after: 1\r\n",
)
# Descriptors kept for what is not a client connection: SQLite's files, the listening socket,
# the thread pool's, logging's.
DESCRIPTOR_RESERVE = 64
_KEY = re.compile(r"oak_(?:sec|pub)_[A-Za-z0-9_%-]+")
_REDACTED = "oak_[redacted]"
# The warnings uvicorn and asyncio write once per bad connection, some with a traceback.
_NOISY = (
    "Invalid HTTP request received",
    "Exceeded concurrency limit",
    "socket.accept() out of system resource",
    "Unsupported upgrade request",
)


class BoundedH11Protocol(H11Protocol):
    header_timeout: float
    body_timeout: float
    max_connections: int
    refusals: SummaryLog

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.refusals.note("connections over the limit")
            transport.write(_TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self._arm(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        before = self.conn.their_state
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if before is not h11.SEND_BODY:
                self._arm(self.body_timeout)
        elif state is h11.IDLE:
            if self._deadline is None:
                self._arm(self.header_timeout)  # the first bytes of a request after keep-alive
        else:
            self._cancel()  # the whole request is in, or the connection is ending

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request that uvicorn has just taken up may still be sending its body;
        # an idle connection is left to uvicorn's keep-alive timeout.
        if self.conn.their_state is h11.SEND_BODY:
            self._arm(self.body_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        headers_done = self.conn.their_state is not h11.IDLE
        self.refusals.note("slow request bodies" if headers_done else "slow request headers")
        # 408 only where no answer to this request has begun: the app may have answered
        # (401, 413) before the body it never needed has finished arriving.
        if not headers_done or (self.cycle is not None and not self.cycle.response_started):
            self.transport.write(_REQUEST_TIMEOUT)
        # Closing tells the app, if it is waiting for the body, that the client is gone.
        self.transport.close()


class StormFilter(logging.Filter):
    """Turns the per-connection warnings of uvicorn and asyncio into counted summaries."""

    def __init__(self, refusals: SummaryLog) -> None:
        super().__init__()
        self._refusals = refusals

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for noisy in _NOISY:
            if noisy in message:
                self._refusals.note(noisy.lower())
                return False
        return True


class RedactKeys(logging.Filter):
    """Keys out of log lines: a key sent in a query string would be in the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _KEY.sub(_REDACTED, a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _KEY.sub(_REDACTED, record.msg)
        return True


def connections_within_descriptors(wanted: int) -> int:
    """How many connections the process can hold: raises its soft file-descriptor limit
    towards the hard one if `wanted` needs it, and answers fewer if even that is not enough.

    Past the limit, accept() fails in a loop (each failure logged by asyncio) and every
    request times out, which is what the bound on connections is there to prevent.
    """
    try:
        import resource
    except ImportError:  # not on Unix: leave the setting as it is
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + DESCRIPTOR_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - DESCRIPTOR_RESERVE))


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for this server: the bounded protocol, quiet about storms."""
    refusals = SummaryLog(_log)
    protocol = type(
        "OakH11Protocol",
        (BoundedH11Protocol,),
        {
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
            "max_connections": settings.max_connections,
            "refusals": refusals,
        },
    )
    storm = StormFilter(refusals)
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, StormFilter) for f in logger.filters):
            logger.addFilter(storm)
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
    options.setdefault("lifespan", "off")
    return uvicorn.Config(app, http=protocol, **options)
