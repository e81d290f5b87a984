"""The asyncio transport: HTTP/1.1 over asyncio streams, one kept-alive connection.

Written on asyncio's own streams so the asyncio client needs no dependency and no thread.
Behind a proxy (HTTPS_PROXY and friends) it hands the request to the blocking transport in
a worker thread instead: CONNECT tunnelling over streams is not worth its code here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

from .._aio import within
from .._wire import NetworkError, Request, Response
from ._response import parse_header_lines
from .http import MAX_RESPONSE_BYTES, HttpTransport, describe_error, proxy_for

MAX_HEADER_LINES = 100


class _ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we understand."""


class AsyncHttpTransport:
    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, prepare_tls: bool = False
    ) -> None:
        # prepare_tls: load the CA certificates now (milliseconds), not on the loop later.
        if ssl_context is None and prepare_tls:
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._origin: tuple[str, str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._blocking: HttpTransport | None = None

    def __repr__(self) -> str:
        return "AsyncHttpTransport()"

    async def send(self, request: Request) -> Response | NetworkError:
        try:
            parts = urlsplit(request.url)
            scheme, host = parts.scheme, parts.hostname or ""
            origin = (scheme, host, parts.port or (443 if scheme == "https" else 80))
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        except ValueError:
            return NetworkError("invalid URL")
        if proxy_for(scheme, host) is not None:
            if self._blocking is None:
                self._blocking = HttpTransport(ssl_context=self._ssl_context)
            return await asyncio.to_thread(self._blocking.send, request)
        reused = (
            self._writer is not None
            and self._origin == origin
            and self._loop is asyncio.get_running_loop()
        )
        try:
            return await within(self._exchange(origin, path, request), request.timeout)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            await self.aclose()
            if not reused:
                return NetworkError(_describe(exc))
        except (OSError, asyncio.TimeoutError, _ProtocolError, ValueError) as exc:
            await self.aclose()
            return NetworkError(_describe(exc))
        # A kept-alive connection the server had closed while idle: once more, fresh.
        try:
            return await within(self._exchange(origin, path, request), request.timeout)
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            _ProtocolError,
            ValueError,
        ) as exc:
            await self.aclose()
            return NetworkError(_describe(exc))

    async def aclose(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            self._abandon()
            return
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def reset_after_fork(self) -> None:
        # The streams belong to a loop that is gone (or to the parent): forget, don't close.
        self._reader = self._writer = None
        self._origin = None

    async def _exchange(
        self, origin: tuple[str, str, int], path: str, request: Request
    ) -> Response:
        reader, writer = await self._connect(origin)
        scheme, host, port = origin
        host_header = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            host_header += f":{port}"
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {host_header}",
            f"Content-Length: {len(request.body)}",
        ]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
        await writer.drain()
        status, headers = await _read_head(reader)
        body, reusable = await _read_body(reader, status, headers)
        if not reusable or headers.get("connection", "").strip().lower() == "close":
            await self.aclose()
        return Response(status, headers, body)

    async def _connect(
        self, origin: tuple[str, str, int]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Streams of another loop (an earlier asyncio.run) cannot be used from this one.
            self._abandon()
        if self._reader is not None and self._writer is not None and self._origin == origin:
            return self._reader, self._writer
        await self.aclose()
        scheme, host, port = origin
        context = None
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            context = self._ssl_context
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        self._reader, self._writer, self._origin, self._loop = reader, writer, origin, loop
        return reader, writer

    def _abandon(self) -> None:
        writer = self._writer
        self.reset_after_fork()
        if writer is not None:
            with contextlib.suppress(Exception):  # its loop may be closed already
                writer.transport.abort()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The final answer's status and headers; interim 1xx answers (a 100 Continue, which
    a server or proxy may send unasked) are read past, as http.client does."""
    while True:
        status, headers = await _read_one_head(reader)
        if not 100 <= status < 200:
            return status, headers


async def _read_one_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = (await reader.readline()).decode("latin-1")
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    fields = status_line.split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
        raise _ProtocolError("not an HTTP/1.x status line")
    lines: list[bytes] = []
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            # Parsed as the blocking transport parses them: folded lines and all.
            headers = parse_header_lines(lines)
            return int(fields[1]), {name.lower(): value for name, value in headers.items()}
    raise _ProtocolError("too many header lines")


async def _read_body(
    reader: asyncio.StreamReader, status: int, headers: dict[str, str]
) -> tuple[bytes, bool]:
    """(body, whether the connection can carry another request), by http.client's rules:
    no body for 204 and 304; chunked; else Content-Length, unless it is not a length;
    else the body runs to the end of the connection."""
    if status in (204, 304):
        return b"", True
    if headers.get("transfer-encoding", "").strip().lower() == "chunked":
        chunks: list[bytes] = []
        size = 0
        while True:
            length = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if length == 0:
                await _read_trailer(reader)
                return b"".join(chunks), True
            if size + length > MAX_RESPONSE_BYTES:
                return b"".join(chunks), False
            chunks.append(await reader.readexactly(length))
            size += length
            await reader.readexactly(2)
    declared = _content_length(headers)
    if declared is not None:
        if declared > MAX_RESPONSE_BYTES:
            return await reader.readexactly(MAX_RESPONSE_BYTES), False
        return await reader.readexactly(declared), True
    body = bytearray()
    while len(body) < MAX_RESPONSE_BYTES:
        chunk = await reader.read(MAX_RESPONSE_BYTES - len(body))
        if not chunk:
            break  # the connection's end, and the body's
        body += chunk
    return bytes(body), False


async def _read_trailer(reader: asyncio.StreamReader) -> None:
    """Past the trailer fields after the last chunk, if any, and the blank line."""
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return
    raise _ProtocolError("too many trailer lines")


def _content_length(headers: dict[str, str]) -> int | None:
    """The Content-Length, or None where there is none or it is no length (http.client
    then reads to the end of the connection too)."""
    try:
        length = int(headers["content-length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None


def _describe(exc: BaseException) -> str:
    # On 3.10, asyncio's timeout is not the builtin TimeoutError.
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed mid-response"
    return describe_error(exc)
