"""The default transport: HTTP/1.1 over one kept-alive connection, from a blocking thread.

Straight to the server, a request is written to the socket in one piece and its answer
read by _http11, the reader the asyncio transport uses too: http.client's way of building
a request and reading its answer cost 180 µs a request on the bench machine against 120
(the socket's own round trip, 90). Through a proxy from the usual environment variables
(HTTPS_PROXY, HTTP_PROXY, NO_PROXY), the standard library's http.client does the work as
it is, CONNECT tunnels included: the proxy path is the rare one, and what our reader would
save there (http.client reads an answer's headers with the email package, 17.7 µs against
6.7) is lost in a loopback round trip of 60 to 130 µs. TLS is verified with the default
context either way. Every failure becomes a NetworkError here, so nothing above this
module handles network exceptions.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from http.client import HTTPConnection, HTTPSConnection
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]  # untyped in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

from .._wire import NetworkError, Request, Response
from ._http11 import (
    EXACTLY,
    LINE,
    MAX_LINE,
    MAX_RESPONSE_BYTES,
    Answer,
    ClosedEarly,
    ProtocolError,
    Reading,
    read_response,
    request_head,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from io import BufferedReader

# Failures that mean a kept-alive connection had gone stale before we used it: the server
# closed it while idle. One immediate retry on a fresh connection is the standard remedy.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


class _Direct:
    """A connection straight to the server: its socket and the buffered reader on it."""

    def __init__(
        self, origin: tuple[str, str, int], timeout: float, context: ssl.SSLContext | None
    ) -> None:
        _, host, port = origin
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.reader: BufferedReader = sock.makefile("rb")

    def exchange(self, head: bytes, body: bytes, timeout: float) -> Answer:
        self.sock.settimeout(timeout)
        self.sock.sendall(head + body)
        return _drive(self.reader, read_response())

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def _drive(reader: BufferedReader, reading: Reading) -> Answer:
    """Runs _http11's reader on the socket: reads what it asks for until it answers."""
    try:
        kind, size = next(reading)
        while True:
            if kind == LINE:
                data = reader.readline(MAX_LINE + 1)
            elif kind == EXACTLY:
                data = reader.read(size)
                if len(data) < size:
                    raise ClosedEarly("closed in the body")
            else:
                data = reader.read1(size)
            kind, size = reading.send(data)
    except StopIteration as finished:
        answer: Answer = finished.value
        return answer


class HttpTransport:
    """Sends each request on a reused connection; only the worker thread calls it."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        # The connection to the origin below: straight to it, or through a proxy.
        self._link: _Direct | HTTPConnection | None = None
        self._origin: tuple[str, str, int] | None = None
        self._url = ""  # the last request's URL, and its origin and path
        self._target: tuple[tuple[str, str, int], str] = (("", "", 0), "")
        self._path_prefix = ""  # an absolute URI prefix when talking to a plain HTTP proxy
        self._extra_headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return "HttpTransport()"

    def send(self, request: Request) -> Response | NetworkError:
        if request.url != self._url:  # a client sends every request to one URL
            try:
                self._target = target(request.url)
            except ValueError:
                return NetworkError("invalid URL")
            self._url = request.url
        origin, path = self._target
        reused = self._link is not None and self._origin == origin
        try:
            return self._exchange(origin, path, request)
        except _STALE_CONNECTION_ERRORS as exc:
            if not reused:
                return self._failed(exc)
            self.close()  # and once more, on a fresh connection
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return self._failed(exc)
        try:
            return self._exchange(origin, path, request)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return self._failed(exc)

    def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def reset_after_fork(self) -> None:
        # Closing would shut a socket the parent still uses (and may send TLS close_notify).
        self._link = None
        self._origin = None

    def _exchange(self, origin: tuple[str, str, int], path: str, request: Request) -> Response:
        link = self._link
        if link is None or self._origin != origin:
            link = self._open(origin, request.timeout)
        if isinstance(link, HTTPConnection):
            return self._exchange_proxied(link, path, request)
        scheme, host, port = origin
        head = request_head(scheme, host, port, path, len(request.body), request.headers)
        status, headers, body, reusable = link.exchange(head, request.body, request.timeout)
        if not reusable:
            self.close()
        return Response(status, headers, body)

    def _exchange_proxied(
        self, connection: HTTPConnection, path: str, request: Request
    ) -> Response:
        connection.timeout = request.timeout
        if connection.sock is not None:
            connection.sock.settimeout(request.timeout)
        headers = dict(request.headers)
        headers.update(self._extra_headers)
        connection.request("POST", self._path_prefix + path, request.body, headers)
        answer = connection.getresponse()
        body = answer.read(MAX_RESPONSE_BYTES)
        if answer.will_close or not answer.isclosed():
            # Either the server said so, or a body larger than we read is still pending.
            self.close()
        return Response(
            answer.status, {name.lower(): value for name, value in answer.getheaders()}, body
        )

    def _open(self, origin: tuple[str, str, int], timeout: float) -> _Direct | HTTPConnection:
        self.close()
        scheme, host, _ = origin
        proxy = proxy_for(scheme, host)
        self._extra_headers = {}
        self._path_prefix = ""
        context = None
        if scheme == "https":
            if self._ssl_context is None:  # made once: loading the CA certificates takes ms
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        link: _Direct | HTTPConnection
        if proxy is None:
            link = _Direct(origin, timeout, context)
        else:
            link = self._through(proxy, origin, timeout, context)
        self._link, self._origin = link, origin
        return link

    def _through(
        self,
        proxy: tuple[str, int, str | None],
        origin: tuple[str, str, int],
        timeout: float,
        context: ssl.SSLContext | None,
    ) -> HTTPConnection:
        _, host, port = origin
        proxy_host, proxy_port, auth = proxy
        connection: HTTPConnection
        if context is not None:
            connection = HTTPSConnection(proxy_host, proxy_port, timeout=timeout, context=context)
            tunnel_headers = {"Proxy-Authorization": auth} if auth else None
            connection.set_tunnel(host, port, headers=tunnel_headers)
        else:
            connection = HTTPConnection(proxy_host, proxy_port, timeout=timeout)
            # A plain-HTTP proxy takes the absolute URI in the request line.
            self._path_prefix = f"http://{host}:{port}"
            if auth:
                self._extra_headers["Proxy-Authorization"] = auth
        return connection

    def _failed(self, exc: BaseException) -> NetworkError:
        self.close()
        return NetworkError(describe_error(exc))


def target(url: str) -> tuple[tuple[str, str, int], str]:
    """((scheme, host, port), path and query) of a URL; ValueError if it has none."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (parts.scheme, parts.hostname or "", port), path


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
    if isinstance(exc, ClosedEarly):
        return "connection closed mid-response"
    if isinstance(exc, ProtocolError):
        return "not an HTTP/1.1 answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "could not resolve the host name (check host / OAK_HOST)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return "connection closed mid-response"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    return type(exc).__name__
