"""HTTP/1.1 as oakdata speaks it to an ingest server, without I/O, for both transports.

request_head() writes a request's head. read_response() reads the answer by http.client's
rules: interim 1xx answers read past; no body for 204 and 304; a chunked body with its
trailer; else Content-Length, unless it is no length; else the body runs to the end of the
connection; and whether the connection can carry another request. It is a generator that
yields what it needs next, (LINE, 0), (EXACTLY, n) or (SOME, n), and is sent what was
read, so the blocking transport (a socket's buffered reader) and the asyncio one (a
StreamReader) drive the same code.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping

# What read_response asks for: a line (b"" at the connection's end), exactly n bytes (the
# shell raises ClosedEarly if the connection ends first), or at most n (b"" at the end).
LINE, EXACTLY, SOME = 0, 1, 2
Need = tuple[int, int]
# (status, headers with lowercase names, body, whether the connection can be reused)
Answer = tuple[int, dict[str, str], bytes, bool]
Reading = Generator[Need, bytes, Answer]

# Ingest answers are small; a larger body is not ours to read (and the connection is dropped).
MAX_RESPONSE_BYTES = 64 * 1024
# http.client's limits on one line and on the header lines of one answer.
MAX_LINE = 65536
MAX_HEADER_LINES = 100
# The characters email's parser (http.client's) accepts in a header name: printable ASCII
# but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


class ProtocolError(ValueError):
    """The server's answer is not HTTP/1.1 we understand."""


class ClosedEarly(ConnectionResetError):
    """The connection ended before the answer did (at once: a kept-alive connection the
    server had closed while idle)."""


def request_head(
    scheme: str, host: str, port: int, path: str, body_length: int, headers: Mapping[str, str]
) -> bytes:
    host_header = f"[{host}]" if ":" in host else host
    if port != (443 if scheme == "https" else 80):
        host_header += f":{port}"
    lines = [f"POST {path} HTTP/1.1", f"Host: {host_header}", f"Content-Length: {body_length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response() -> Reading:
    while True:
        version, status, headers = yield from _read_head()
        if not 100 <= status < 200:
            break
    body, reusable = yield from _read_body(status, headers)
    return status, headers, body, reusable and not _closes(version, headers)


def _read_head() -> Generator[Need, bytes, tuple[str, int, dict[str, str]]]:
    status_line = yield from _line()
    if not status_line:
        raise ClosedEarly("closed before the status line")
    fields = status_line.decode("latin-1").split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
        raise ProtocolError("not an HTTP/1.x status line")
    lines: list[bytes] = []
    for _ in range(MAX_HEADER_LINES):
        line = yield from _line()
        if not line:
            raise ClosedEarly("closed in the headers")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            headers = {name.lower(): value for name, value in header_items(lines)}
            return fields[0], int(fields[1]), headers
    raise ProtocolError("too many header lines")


def _read_body(status: int, headers: dict[str, str]) -> Generator[Need, bytes, tuple[bytes, bool]]:
    if status in (204, 304):
        return b"", True
    if headers.get("transfer-encoding", "").strip().lower() == "chunked":
        chunks: list[bytes] = []
        size = 0
        while True:
            size_line = yield from _line()
            length = int(size_line.split(b";")[0].strip() or b"0", 16)
            if length == 0:
                yield from _skip_trailer()
                return b"".join(chunks), True
            if size + length > MAX_RESPONSE_BYTES:
                return b"".join(chunks), False
            chunks.append((yield EXACTLY, length))
            size += length
            yield EXACTLY, 2  # the chunk's CRLF
    declared = _content_length(headers)
    if declared is not None:
        if declared > MAX_RESPONSE_BYTES:
            return (yield EXACTLY, MAX_RESPONSE_BYTES), False
        return (yield EXACTLY, declared), True
    body = bytearray()
    while len(body) < MAX_RESPONSE_BYTES:
        chunk = yield SOME, MAX_RESPONSE_BYTES - len(body)
        if not chunk:
            break  # the connection's end, and the body's
        body += chunk
    return bytes(body), False


def _line() -> Generator[Need, bytes, bytes]:
    line = yield LINE, 0
    if len(line) > MAX_LINE:
        raise ProtocolError("a line longer than 65,536 bytes")
    return line


def _skip_trailer() -> Generator[Need, bytes, None]:
    """Past the trailer fields after the last chunk, if any, and the blank line."""
    for _ in range(MAX_HEADER_LINES):
        line = yield from _line()
        if line in (b"\r\n", b"\n", b""):
            return
    raise ProtocolError("too many trailer lines")


def _content_length(headers: dict[str, str]) -> int | None:
    """The Content-Length, or None where there is none or it is no length (http.client
    then reads to the end of the connection too)."""
    try:
        length = int(headers["content-length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None


def _closes(version: str, headers: dict[str, str]) -> bool:
    """Whether the server closes the connection after this answer, as http.client decides."""
    connection = headers.get("connection", "").lower()
    if version != "HTTP/1.0":
        return "close" in connection
    return "keep-alive" not in connection and "keep-alive" not in headers


def header_items(lines: list[bytes]) -> list[tuple[str, str]]:
    """(name, value) of each header in lines, as http.client's email parser reads them.

    A plain split at the first colon: an ingest answer has a handful of plain header lines,
    and email.parser, a general mail parser, takes about 70 us for them. A line that is no
    header (no colon, or a name with characters a name cannot hold) is skipped; the email
    parser would stop reading headers there instead.
    """
    items: list[tuple[str, str]] = []
    field: list[str] = []  # the lines of the header being read
    for raw in lines:
        line = raw.decode("iso-8859-1")
        if line[:1] in (" ", "\t"):
            if field:
                field.append(line)  # an obsolete folded line continues the value
            continue
        if field:
            items.append(_item(field))
        name, colon, _ = line.partition(":")
        field = [line] if colon and _FIELD_NAME.fullmatch(name) else []
    return items


def _item(field: list[str]) -> tuple[str, str]:
    # As email's compat32 policy reads a header from its source lines.
    name, value = field[0].split(":", 1)
    return name, (value.lstrip(" \t") + "".join(field[1:])).rstrip("\r\n")
