"""Django: the process's OakClient made from settings, and one oakdata.context per request.

    # settings.py
    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "oakdata.integrations.django.OakDataMiddleware",   # after the auth middleware
    ]
    OAKDATA_SECRET_KEY = None    # optional: None reads $OAK_SECRET_KEY
    OAKDATA_HOST = None          # optional: None reads $OAK_HOST
    OAKDATA_OPTIONS = {}         # optional: the client's other options
    OAKDATA_INCLUDE_IP = False   # optional: add $ip (REMOTE_ADDR) to each request's context

    # views.py
    from oakdata.integrations.django import client

    def upgrade(request):
        client().capture(event="plan_upgraded", properties={"plan": "pro"})  # id from the context

Each request's context carries $current_url (without the query string), $method, $path,
and, for an authenticated user, ``request.user.pk``. Subclass the middleware and override
``distinct_id(request)`` or ``properties(request)`` to decide otherwise. Nothing is
captured by the middleware itself. It works in sync and async (ASGI) deployments.

The middleware makes the client when Django loads it, at startup: under gunicorn --preload
that is in the master, and each forked worker gets a fresh queue and thread on first use.
"""

from __future__ import annotations

import threading

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings  # type: ignore[import-untyped]

from .._client import OakClient
from .._context import context
from ._request import request_properties

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from django.http import HttpRequest, HttpResponseBase  # type: ignore[import-untyped]

__all__ = ["OakDataMiddleware", "client"]

_client: OakClient | None = None
_client_lock = threading.Lock()


def client() -> OakClient:
    """The process's client, made on first use from OAKDATA_SECRET_KEY, OAKDATA_HOST and
    OAKDATA_OPTIONS (each optional)."""
    global _client  # noqa: PLW0603 -- one client per process, made once
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = OakClient(
                    getattr(settings, "OAKDATA_SECRET_KEY", None),
                    host=getattr(settings, "OAKDATA_HOST", None),
                    **getattr(settings, "OAKDATA_OPTIONS", {}),
                )
    return _client


class OakDataMiddleware:
    """Opens an oakdata.context around each request (see the module)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        # Off by default: an IP address is personal data, and behind a proxy REMOTE_ADDR
        # is the proxy's.
        self.include_ip: bool = getattr(settings, "OAKDATA_INCLUDE_IP", False)
        client()

    def distinct_id(self, request: HttpRequest) -> str | int | None:
        """The authenticated user's primary key, else None. Override to choose another id.

        Reading request.user loads the session's user (one query, cached for the request)."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        pk: str | int | None = user.pk
        return pk

    def properties(self, request: HttpRequest) -> dict[str, Any]:
        """$current_url, $method, $path (and $ip if OAKDATA_INCLUDE_IP). Override to add."""
        try:
            host = request.get_host()
        except Exception:  # DisallowedHost: Django answers 400 itself; we only tag
            host = ""
        ip = request.META.get("REMOTE_ADDR") if self.include_ip else None
        return request_properties(
            request.scheme or "http", host, request.path, request.method or "", ip
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        with context(*self._describe(request)):
            response: HttpResponseBase = self.get_response(request)
            return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        # request.user loads from the database, which Django forbids on the event loop.
        described = await sync_to_async(self._describe)(request)
        with context(*described):
            response: HttpResponseBase = await self.get_response(request)
            return response

    def _describe(self, request: HttpRequest) -> tuple[str | int | None, dict[str, Any]]:
        # An override may fail; analytics must not fail the request with it.
        try:
            distinct_id = self.distinct_id(request)
        except Exception:
            distinct_id = None
        try:
            properties = self.properties(request)
        except Exception:
            properties = {}
        return distinct_id, properties
