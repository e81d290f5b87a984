"""The default transport: the standard library's http.client over one kept-alive connection.

TLS is verified with the default context; proxies come from the usual environment
variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). Every failure becomes a NetworkError here, so
nothing above this module handles network exceptions.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]  # untyped in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

from .._wire import NetworkError, Request, Response
from ._response import FastHeadersResponse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Ingest answers are small; a larger body is not ours to read (and the connection is dropped).
MAX_RESPONSE_BYTES = 64 * 1024

# Failures that mean a kept-alive connection had gone stale before we used it: the server
# closed it while idle. One immediate retry on a fresh connection is the standard remedy.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class _HTTPConnection(http.client.HTTPConnection):
    """Writes a request's head and body to the socket at once; reads the answer's headers
    without the email package (see _response).

    http.client writes the head and the body separately. Each write lets go of the GIL, and
    a sender thread that takes it back from a thread busy capturing waits up to the switch
    interval (5 ms) for it: one write fewer per batch is a wait fewer while the app captures.
    """

    response_class = FastHeadersResponse
    _body_follows = False
    _head: bytes | None = None

    def send_request(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self._body_follows = bool(body)  # http.client writes no empty body
        try:
            self.request("POST", url, body=body, headers=headers)
        finally:
            self._body_follows = False
            self._head = None

    def send(self, data: Any) -> None:
        if self._body_follows:
            # The first write of a request is its head (http.client's _send_output).
            self._body_follows = False
            self._head = bytes(data)
            return
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        super().send(data)


class _HTTPSConnection(_HTTPConnection, http.client.HTTPSConnection):
    pass


class HttpTransport:
    """Sends each request on a reused connection; only the worker thread calls it."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self._connection: _HTTPConnection | None = None
        self._origin: tuple[str, str, int] | None = None
        self._path_prefix = ""  # an absolute URI prefix when talking to a plain HTTP proxy
        self._extra_headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return "HttpTransport()"

    def send(self, request: Request) -> Response | NetworkError:
        try:
            parts = urlsplit(request.url)
            origin = (parts.scheme, parts.hostname or "", parts.port or _default_port(parts.scheme))
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        except ValueError:
            return NetworkError("invalid URL")
        reused = self._connection is not None and self._origin == origin
        try:
            return self._exchange(origin, path, request)
        except _STALE_CONNECTION_ERRORS as exc:
            if not reused:
                return self._failed(exc)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return self._failed(exc)
        try:
            return self._exchange(origin, path, request)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return self._failed(exc)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def reset_after_fork(self) -> None:
        # Closing would shut a socket the parent still uses (and may send TLS close_notify).
        self._connection = None
        self._origin = None

    def _exchange(self, origin: tuple[str, str, int], path: str, request: Request) -> Response:
        connection = self._connect(origin, request.timeout)
        headers = dict(request.headers)
        headers.update(self._extra_headers)
        connection.send_request(self._path_prefix + path, request.body, headers)
        answer = connection.getresponse()
        body = answer.read(MAX_RESPONSE_BYTES)
        if answer.will_close or not answer.isclosed():
            # Either the server said so, or a body larger than we read is still pending.
            self.close()
        return Response(
            answer.status, {name.lower(): value for name, value in answer.getheaders()}, body
        )

    def _connect(self, origin: tuple[str, str, int], timeout: float) -> _HTTPConnection:
        if self._connection is not None and self._origin == origin:
            self._connection.timeout = timeout
            if self._connection.sock is not None:
                self._connection.sock.settimeout(timeout)
            return self._connection
        self.close()
        scheme, host, port = origin
        proxy = proxy_for(scheme, host)
        self._extra_headers = {}
        self._path_prefix = ""
        connection: _HTTPConnection
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            if proxy is None:
                connection = _HTTPSConnection(host, port, timeout=timeout, context=context)
            else:
                proxy_host, proxy_port, auth = proxy
                connection = _HTTPSConnection(
                    proxy_host, proxy_port, timeout=timeout, context=context
                )
                tunnel_headers = {"Proxy-Authorization": auth} if auth else None
                connection.set_tunnel(host, port, headers=tunnel_headers)
        elif proxy is None:
            connection = _HTTPConnection(host, port, timeout=timeout)
        else:
            proxy_host, proxy_port, auth = proxy
            connection = _HTTPConnection(proxy_host, proxy_port, timeout=timeout)
            # A plain-HTTP proxy takes the absolute URI in the request line.
            self._path_prefix = f"http://{host}:{port}"
            if auth:
                self._extra_headers["Proxy-Authorization"] = auth
        self._connection = connection
        self._origin = origin
        return connection

    def _failed(self, exc: BaseException) -> NetworkError:
        self.close()
        return NetworkError(describe_error(exc))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def proxy_for(scheme: str, host: str) -> tuple[str, int, str | None] | None:
    """(host, port, Proxy-Authorization) of the environment's proxy for this scheme, if any."""
    if proxy_bypass_environment(host):
        return None
    url = getproxies_environment().get(scheme)
    if not url:
        return None
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    auth = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return parts.hostname, parts.port or 8080, auth


def describe_error(exc: BaseException) -> str:
    """A short cause for logs: the kind of failure, never headers or bodies."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "connection closed mid-response"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    return type(exc).__name__
