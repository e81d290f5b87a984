"""Stands in for the app's authentication: an X-Test-User header signs the request in.

A real app lists django.contrib.auth's AuthenticationMiddleware here instead; what the
oakdata middleware reads is the same: request.user.is_authenticated and request.user.pk.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class HeaderUser:
    def __init__(self, pk: str | None) -> None:
        self.pk = pk
        self.is_authenticated = pk is not None


def header_auth(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        request.user = HeaderUser(request.headers.get("X-Test-User"))  # type: ignore[attr-defined]
        return get_response(request)

    return middleware
