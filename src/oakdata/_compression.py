"""Request bodies in gzip: ISA-L's deflate with the speedups extra installed, else zlib's.

Compressing is most of what a sender thread spends on a large batch: zlib at level 1 takes
about 1.3 ms for a 1,000-event batch of the bench event on the bench machine. ISA-L (the
``isal`` package, in ``oakdata[speedups]``) takes 0.22 ms for it, and writes a body within
about a tenth of zlib's size, smaller or larger depending on the data (4 % smaller on the
bench batches). Both release the GIL while they work. Either way the server receives a
standard gzip stream of the same bytes.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable

# zlib's level 1 and ISA-L's: both the fastest that still finds repeats (ISA-L's 0 leaves
# the bench batches a third larger). Why level 1: docs/performance.md, "Compression".
GZIP_LEVEL = 1
ISAL_LEVEL = 1
# A smaller body is sent as it is: with the request's head it fits in one 1,500-byte
# packet compressed or not, and zlib costs about 18 us even for one event.
MIN_GZIP_BYTES = 1024

# deflate(body, wbits) -> compressed bytes; wbits as zlib takes them (16 + n: gzip).
Deflate = Callable[[bytes, int], bytes]

_chosen: Deflate | None = None


def gzip_compress(body: bytes) -> bytes:
    """body in a gzip container, with the compressor's window sized to the body.

    Back-references cannot reach before the body's start, so a window no larger than the
    body compresses exactly as well as the 32 KiB default; but zlib allocates and clears
    its window and tables on every call, which costs a one-event request more than its
    compression (about 70 us against 12 us on the bench machine). 16 + bits asks for the
    gzip container; zlib takes no window under 2**9.
    """
    window_bits = min(15, max(9, (len(body) - 1).bit_length()))
    return deflater()(body, 16 + window_bits)


def deflater() -> Deflate:
    """ISA-L's deflate if the isal package can be imported, else zlib's. Chosen on the
    first body compressed, by a sender: importing isal takes about 2 ms, which neither
    import oakdata nor capture() should pay (AsyncOakClient pays it on its loop, once,
    as it does its transport's imports)."""
    global _chosen  # noqa: PLW0603 - a choice made once per process
    if _chosen is None:
        _chosen = isal_deflate() or zlib_deflate
    return _chosen


def isal_deflate() -> Deflate | None:
    try:
        from isal import isal_zlib
    except ImportError:
        return None

    def deflate(body: bytes, wbits: int) -> bytes:
        compressed: bytes = isal_zlib.compress(body, ISAL_LEVEL, wbits)
        return compressed

    return deflate


if sys.version_info >= (3, 11):

    def zlib_deflate(body: bytes, wbits: int) -> bytes:
        # One call, where compressobj takes two: each lets go of the GIL while zlib works,
        # and a sender thread that takes the GIL back from a thread busy capturing waits
        # up to the switch interval (5 ms) for it.
        return zlib.compress(body, GZIP_LEVEL, wbits)

else:  # zlib.compress takes wbits from Python 3.11 on

    def zlib_deflate(body: bytes, wbits: int) -> bytes:
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, wbits)
        return packer.compress(body) + packer.flush()
