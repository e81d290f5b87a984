"""The sink: a small HTTP/1.1 server on 127.0.0.1 that every SDK under test sends to.

It runs in its own process (``python -m oakbench.sink``), prints ``PORT <n>`` once it
listens, and stops by itself when its standard input closes (the driver went away) or when
``--max-seconds`` have passed, whichever comes first: it can never outlive a bench run.

Ingest paths (anything else is 404 and counted as unknown):

  POST /api/oak/ingest   oakdata      gzip JSON {"batch": [...], "sent_at": ...}
  POST /batch/           posthog v0   JSON (gzip when asked) {"batch": [...], "api_key": ...}
  POST /v1/batch         segment      JSON (gzip when asked) {"batch": [...], "writeKey": ...}

Events are counted by the occurrences of the bench event's marker key in the (gunzipped)
body, which is exact because the bench event carries that key once and nothing else
does; a JSON parse of the first request and of every 64th after it checks that the count
equals ``len(batch)``, and any disagreement is reported as a mismatch.

Control, on the same port:

  POST /_oakbench/reset  {"mode": "up"|"slow"|"down", "latency": s, "target": n}
                         zero the counters; "slow" answers after `latency` seconds,
                         "down" answers 503 at once.
  GET  /_oakbench/stats  the counters, and `reached_at` (time.monotonic() of this host,
                         comparable across processes on Linux) when `target` events had
                         been answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import zlib
from typing import Any

from .event import MARKER

INGEST_PATHS = {
    b"/api/oak/ingest": "oakdata",
    b"/batch/": "posthog",
    b"/batch": "posthog",
    b"/v1/batch": "segment",
}
CONTROL_PREFIX = b"/_oakbench/"
VALIDATE_EVERY = 64
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_HEADER_LINES = 100


class Sink:
    """Counters and behaviour of one measurement; reset by the driver between runs."""

    def __init__(self) -> None:
        self.reset({})

    def reset(self, settings: dict[str, Any]) -> None:
        self.mode = str(settings.get("mode", "up"))
        self.latency = float(settings.get("latency", 0.0))
        self.target = int(settings.get("target", 0))
        self.events = 0
        self.requests = 0
        self.answered_503 = 0
        self.unknown = 0
        self.wire_bytes = 0
        self.raw_bytes = 0
        self.validated = 0
        self.mismatches = 0
        self.by_sdk: dict[str, int] = {}
        self.first_at: float | None = None
        self.reached_at: float | None = None
        self.epoch = getattr(self, "epoch", 0) + 1

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "latency": self.latency,
            "target": self.target,
            "events": self.events,
            "requests": self.requests,
            "answered_503": self.answered_503,
            "unknown": self.unknown,
            "wire_bytes": self.wire_bytes,
            "raw_bytes": self.raw_bytes,
            "validated": self.validated,
            "mismatches": self.mismatches,
            "by_sdk": dict(self.by_sdk),
            "first_at": self.first_at,
            "reached_at": self.reached_at,
        }

    async def ingest(self, sdk: str, headers: dict[bytes, bytes], body: bytes) -> Response:
        epoch = self.epoch
        if self.mode == "down":
            self.answered_503 += 1
            return 503, b'{"error":{"code":"unavailable","message":"bench sink is down"}}'
        self.wire_bytes += len(body)
        if b"gzip" in headers.get(b"content-encoding", b"") or body[:2] == b"\x1f\x8b":
            try:
                body = zlib.decompress(body, 47)  # 32 + 15: a gzip or zlib container
            except zlib.error:
                return 400, b'{"error":{"code":"bad_gzip","message":"not gzip"}}'
        count = body.count(MARKER)
        if self.requests % VALIDATE_EVERY == 0:
            self.validated += 1
            try:
                batch_size = len(json.loads(body)["batch"])
            except (ValueError, KeyError, TypeError):
                batch_size = -1
            if batch_size != count:
                self.mismatches += 1
        self.requests += 1
        if self.mode == "slow" and self.latency > 0:
            await asyncio.sleep(self.latency)
        if epoch != self.epoch:  # reset while this request waited: it belongs to no run
            return 200, _accepted(count)
        # Counted when answered: that is when the SDK learns the events were delivered.
        self.raw_bytes += len(body)
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        self.events += count
        self.by_sdk[sdk] = self.by_sdk.get(sdk, 0) + count
        if self.reached_at is None and self.target and self.events >= self.target:
            self.reached_at = now
        return 200, _accepted(count)


Response = tuple[int, bytes]
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 503: b"Service Unavailable"}


def _accepted(count: int) -> bytes:
    # Both oakdata's answer and posthog's {"status": 1}; segment only reads the status.
    return b'{"accepted":%d,"duplicates":0,"rejected":[],"status":1}' % count


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        parts = []
        total = 0
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("body too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get(b"content-length", b"0") or b"0")
    if length > MAX_BODY_BYTES:
        raise ValueError("body too large")
    return await reader.readexactly(length) if length else b""


class Server:
    def __init__(self) -> None:
        self.sink = Sink()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    return
                lines = head.split(b"\r\n")
                method, target, version = lines[0].split(b" ", 2)
                headers: dict[bytes, bytes] = {}
                for line in lines[1:MAX_HEADER_LINES]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get(b"expect", b"").lower() == b"100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await _read_body(reader, headers)
                status, payload = await self.route(method, target.split(b"?", 1)[0], headers, body)
                connection = headers.get(b"connection", b"").lower()
                close = version == b"HTTP/1.0" or connection == b"close"
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n%s\r\n%s"
                    % (
                        status,
                        REASONS.get(status, b"Other"),
                        len(payload),
                        b"Connection: close\r\n" if close else b"",
                        payload,
                    )
                )
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    async def route(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes
    ) -> Response:
        sdk = INGEST_PATHS.get(path)
        if sdk is not None and method == b"POST":
            return await self.sink.ingest(sdk, headers, body)
        if path == CONTROL_PREFIX + b"reset" and method == b"POST":
            self.sink.reset(json.loads(body or b"{}"))
            return 200, b"{}"
        if path == CONTROL_PREFIX + b"stats":
            return 200, json.dumps(self.sink.stats()).encode()
        self.sink.unknown += 1
        return 404, b'{"error":{"code":"not_found","message":"no such path"}}'


async def serve(port: int, max_seconds: float) -> None:
    server_state = Server()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", port, backlog=128)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def watch_stdin() -> None:
        # EOF on stdin: the driver exited or closed the pipe; either way, stop.
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    loop.call_later(max_seconds, lambda: stop.done() or stop.set_result(None))
    await stop
    # No wait_closed(): a stalled answer may still be sleeping; asyncio.run cancels it.
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="oakbench HTTP sink (stops on stdin EOF)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.max_seconds))


if __name__ == "__main__":
    main()
