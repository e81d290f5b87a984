"""The transport seam: a request goes in, an outcome comes out, and nothing is raised.

A network failure is a value (NetworkError), translated from library exceptions at the
transport's edge, so the delivery logic above never needs a try block around I/O. Sync and
async transports are two small protocols; neither extends the other.
"""

from __future__ import annotations

from typing import Protocol

from .._wire import NetworkError, Request, Response

__all__ = ["AsyncTransport", "NetworkError", "Request", "Response", "Transport"]


class Transport(Protocol):
    """What OakClient sends through. send() must never raise."""

    def send(self, request: Request) -> Response | NetworkError: ...

    def close(self) -> None: ...

    def reset_after_fork(self) -> None:
        """Forget inherited connections without closing them: the parent still owns them."""
        ...


class AsyncTransport(Protocol):
    """What AsyncOakClient sends through; the same contract, awaited."""

    async def send(self, request: Request) -> Response | NetworkError: ...

    async def aclose(self) -> None: ...

    def reset_after_fork(self) -> None: ...
