"""What crosses the transport seam: a request, and its outcome (a response or a failure).

Plain slotted classes: dataclasses would import inspect, which serverless cold starts pay.
"""

from __future__ import annotations

from collections.abc import Mapping


class Request:
    __slots__ = ("body", "headers", "timeout", "url")

    def __init__(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float = 10.0
    ) -> None:
        self.url = url
        self.headers = headers  # carries the secret key: never in repr
        self.body = body
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Request(url={self.url!r}, body={len(self.body)} bytes, timeout={self.timeout})"


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        self.status = status
        # Names lower-cased, so lookups need not care how the server spelled them.
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response(status={self.status}, body={len(self.body)} bytes)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, dict(self.headers), self.body) == (
            other.status,
            dict(other.headers),
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value: no hashing


class NetworkError:
    """The request may or may not have reached the server; retrying is safe (uuid de-dup)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"NetworkError({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetworkError):
            return NotImplemented
        return self.reason == other.reason

    __hash__ = None  # type: ignore[assignment]
