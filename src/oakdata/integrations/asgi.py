"""An ASGI middleware (FastAPI, Starlette, any ASGI app): one oakdata.context per request.

    from oakdata.integrations.asgi import OakDataMiddleware

    app.add_middleware(OakDataMiddleware)                       # FastAPI / Starlette
    app.add_middleware(OakDataMiddleware, distinct_id=user_id)  # your own id function
    app = OakDataMiddleware(app)                                # any ASGI app

Inside each HTTP or WebSocket request, captures carry $current_url (without the query
string), $method and $path, and the user's id when distinct_id(scope) returns one, so that
``oak.capture(event="checkout_completed")`` needs no id. Nothing is captured by the
middleware itself. It imports no framework.

The default distinct_id reads ``scope["user"]`` as Starlette's AuthenticationMiddleware
leaves it (add this middleware after that one): its ``identity`` when authenticated. Apps
that authenticate in a FastAPI dependency learn the user after every middleware has run:
open a nested ``context(distinct_id=user.id)`` in that dependency instead (README).
"""

from __future__ import annotations

from .._context import context
from ._request import request_properties

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping
    from typing import Any

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
    DistinctId = Callable[[Scope], "str | int | None"]

__all__ = ["OakDataMiddleware", "authenticated_user_id"]


def authenticated_user_id(scope: Scope) -> str | int | None:
    """The default: the identity of Starlette's authenticated ``scope["user"]``, else None."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    identity: str | int | None = getattr(user, "identity", None)
    return identity


class OakDataMiddleware:
    """Opens an oakdata.context for each HTTP and WebSocket request (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        distinct_id: DistinctId = authenticated_user_id,
        include_ip: bool = False,
    ) -> None:
        self.app = app
        self.distinct_id = distinct_id
        # Off by default: an IP address is personal data, and behind a proxy scope["client"]
        # is the proxy unless the server was told to trust its headers (uvicorn
        # --proxy-headers --forwarded-allow-ips).
        self.include_ip = include_ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan: no request, no context
            return
        with context(*self._describe(scope)):
            await self.app(scope, receive, send)

    def _describe(self, scope: Scope) -> tuple[str | int | None, dict[str, str]]:
        # The app's function may fail; analytics must not fail the request with it.
        try:
            distinct_id = self.distinct_id(scope)
        except Exception:
            distinct_id = None
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1")
        client = scope.get("client")
        ip = client[0] if self.include_ip and client else None
        path = scope.get("path", "")  # the whole path: the ASGI spec keeps root_path in it
        method = scope.get("method", "WEBSOCKET")
        return distinct_id, request_properties(scope.get("scheme", "http"), host, path, method, ip)
