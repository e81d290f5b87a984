"""The asyncio transport: HTTP/1.1 over asyncio streams, one kept-alive connection.

Written on asyncio's own streams so the asyncio client needs no dependency and no thread.
Behind a proxy (HTTPS_PROXY and friends) it hands the request to the blocking transport in
a worker thread instead: CONNECT tunnelling over streams is not worth its code here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from .._aio import within
from .._wire import NetworkError, Request, Response
from ._http11 import EXACTLY, LINE, Answer, ProtocolError, Reading, read_response, request_head
from .http import HttpTransport, describe_error, proxy_for, target


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
            origin, path = target(request.url)
        except ValueError:
            return NetworkError("invalid URL")
        scheme, host, _ = origin
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
        except (OSError, asyncio.TimeoutError, ProtocolError, ValueError) as exc:
            await self.aclose()
            return NetworkError(_describe(exc))
        # A kept-alive connection the server had closed while idle: once more, fresh.
        try:
            return await within(self._exchange(origin, path, request), request.timeout)
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            ProtocolError,
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
        head = request_head(scheme, host, port, path, len(request.body), request.headers)
        writer.write(head + request.body)
        await writer.drain()
        status, headers, body, reusable = await _drive(reader, read_response())
        if not reusable:
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


async def _drive(reader: asyncio.StreamReader, reading: Reading) -> Answer:
    """Runs _http11's reader on the stream: reads what it asks for until it answers."""
    try:
        kind, size = next(reading)
        while True:
            if kind == LINE:
                try:
                    data = await reader.readline()
                except ValueError as exc:  # longer than the stream's limit (64 KiB)
                    raise ProtocolError("a line longer than the stream's limit") from exc
            elif kind == EXACTLY:
                data = await reader.readexactly(size)
            else:
                data = await reader.read(size)
            kind, size = reading.send(data)
    except StopIteration as finished:
        answer: Answer = finished.value
        return answer


def _describe(exc: BaseException) -> str:
    # On 3.10, asyncio's timeout is not the builtin TimeoutError.
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed mid-response"
    return describe_error(exc)
