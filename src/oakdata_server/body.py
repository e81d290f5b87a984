"""Reading a request body within limits, and inflating gzip without trusting it.

`gzip.decompress` would inflate a 1 MiB bomb into gigabytes before we could look at the size;
here inflation proceeds in steps of at most the remaining allowance, so memory and time stay
bounded by the limit whatever the input.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from oakdata_server.errors import IngestError

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate or zlib
# A gzip body may be several members one after another; no client needs many, and each costs
# a new inflater: 52,000 empty members cost 0.8 s of CPU before this bound.
MAX_GZIP_MEMBERS = 16


async def read_limited(
    stream: AsyncIterator[bytes], content_length: str | None, limit: int
) -> bytes:
    """The whole body, or 413 as soon as it is known to be over `limit` bytes."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise IngestError(400, "invalid_request", "Content-Length is not a number.") from None
        if declared > limit:
            raise _body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large(limit: int) -> IngestError:
    return IngestError(413, "body_too_large", f"The request body is over {limit} bytes.")


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as JSON bytes: inflated when gzipped, never more than `limit` bytes."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > limit:
            raise _decompressed_too_large(limit)
        return body
    if encoding != "gzip":
        raise IngestError(
            400,
            "unsupported_content_encoding",
            f"Content-Encoding {encoding[:40]!r} is not supported; use gzip or none.",
        )
    return inflate_gzip(body, limit)


def inflate_gzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    remaining = data
    # A gzip file may hold several members one after the other (RFC 1952 §2.2).
    for _ in range(MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(_GZIP_WBITS)
        pending = remaining
        try:
            while not inflater.eof:
                # One byte over the allowance is enough to know the limit is exceeded.
                chunk = inflater.decompress(pending, limit - len(out) + 1)
                out += chunk
                if len(out) > limit:
                    raise _decompressed_too_large(limit)
                if not chunk and not inflater.unconsumed_tail:
                    break  # no input left and nothing more comes out: truncated
                # zlib may still hold output for input it has consumed, so loop even when
                # the tail is empty until it says it has nothing more.
                pending = inflater.unconsumed_tail
        except zlib.error:
            raise IngestError(400, "invalid_gzip", "The body is not valid gzip.") from None
        if not inflater.eof:
            raise IngestError(400, "invalid_gzip", "The gzip body is truncated.")
        remaining = inflater.unused_data
        if not remaining:
            return bytes(out)
    raise IngestError(
        400, "invalid_gzip", f"The gzip body has more than {MAX_GZIP_MEMBERS} members."
    )


def _decompressed_too_large(limit: int) -> IngestError:
    return IngestError(
        413, "decompressed_too_large", f"The decompressed body is over {limit} bytes."
    )
