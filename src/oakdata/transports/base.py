"""The transport seam: a request goes in, an outcome comes out, and nothing is raised.

A network failure is a value (NetworkError), translated from library exceptions at the
transport's edge, so the delivery logic above never needs a try block around I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Request:
    url: str
    # repr=False: the Authorization header carries the secret key.
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class Response:
    status: int
    # Names lower-cased, so lookups need not care how the server spelled them.
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class NetworkError:
    """The request may or may not have reached the server; retrying is safe (uuid de-dup)."""

    reason: str


class Transport(Protocol):
    """What the threaded client sends through. Implementations must never raise from send."""

    def send(self, request: Request) -> Response | NetworkError: ...

    def close(self) -> None: ...

    def reset_after_fork(self) -> None:
        """Forget inherited connections without closing them: the parent still owns them."""
        ...


class AsyncTransport(Protocol):
    """What the asyncio client sends through; the same contract, awaited."""

    async def send(self, request: Request) -> Response | NetworkError: ...

    async def aclose(self) -> None: ...

    def reset_after_fork(self) -> None: ...
