"""http.client's response, with its header block parsed without the email package.

http.client hands a response's header lines to email.parser, a general mail parser: on
the bench machine that is about 70 µs of a one-event flush's 560, and the same for every
batch a sender thread sends. An ingest answer has a handful of plain header lines, and
their parse is a split at the first colon.

Only that parse is ours. The lines are read by http.client's own reader, with its limits
on line length and count, into its own HTTPMessage; begin() below is http.client's, the
same in Python 3.10 to 3.13, with that one call replaced and its debug prints left out
(nothing here sets a debug level); reading the body (by length, chunked, or until the
connection closes) is untouched.
"""

from __future__ import annotations

import http.client
import re

# Read by http.client's reader, which enforces its _MAXLINE and _MAXHEADERS limits.
_read_header_lines = http.client._read_headers  # type: ignore[attr-defined]
# The characters email's parser accepts in a header name: printable ASCII but the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def parse_header_lines(lines: list[bytes]) -> http.client.HTTPMessage:
    """Header lines, as read up to and including the blank one, into an HTTPMessage whose
    items are those http.client's email parser gives for the same lines."""
    headers = http.client.HTTPMessage()
    for name, value in header_items(lines):
        headers[name] = value
    return headers


def header_items(lines: list[bytes]) -> list[tuple[str, str]]:
    """(name, value) of each header in lines, as http.client's email parser reads them.

    A line that is no header (no colon, or a name with characters a name cannot hold) is
    skipped; the email parser would stop reading headers there instead.
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


class FastHeadersResponse(http.client.HTTPResponse):
    def begin(self) -> None:
        if self.headers is not None:
            return  # already begun
        while True:  # skip any interim 100 Continue, with its headers
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            _read_header_lines(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)

        self.headers = self.msg = parse_header_lines(_read_header_lines(self.fp))

        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding) and transfer_encoding.lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:  # nonsense: ignored, as http.client does
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"
        ):
            self.length = 0
        # Neither chunked nor of known length, on a connection that stays open: the body
        # ends where the connection does.
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
