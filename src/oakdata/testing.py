"""Helpers for your tests: see what your code captured, with no network and no mocks.

from oakdata import OakClient
from oakdata.testing import MemoryTransport

transport = MemoryTransport()
oak = OakClient("oak_sec_test", transport=transport)
signup(oak, "user_1")          # your code
oak.flush()
assert transport.events("user_signed_up")[0]["distinct_id"] == "user_1"
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .transports.base import NetworkError, Request, Response

__all__ = ["MemoryTransport", "RecordedRequest"]


@dataclass(frozen=True)
class RecordedRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: dict[str, Any]


class MemoryTransport:
    """A transport that keeps every request in memory and answers it with `status`.

    With the default 200 every message counts as delivered. Another status (say 500) lets
    a test see what your code does when the server fails, without a server.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        return f"MemoryTransport(status={self.status}, requests={len(self._requests)})"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message of every request, in the order they were sent."""
        return [message for request in self.requests for message in request.body["batch"]]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The capture messages, optionally only those of one event name."""
        return [
            m
            for m in self.messages
            if m["type"] == "capture" and (name is None or m["event"] == name)
        ]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def send(self, request: Request) -> Response | NetworkError:
        body = request.body
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        recorded = RecordedRequest(request.url, dict(request.headers), json.loads(body))
        with self._lock:
            self._requests.append(recorded)
        answer = {"accepted": len(recorded.body["batch"]), "duplicates": 0, "rejected": []}
        return Response(self.status, {}, json.dumps(answer).encode())

    def close(self) -> None:
        return None

    def reset_after_fork(self) -> None:
        return None
