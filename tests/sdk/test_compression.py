"""Request bodies in gzip, by zlib and, with the speedups extra, by ISA-L: the same bytes
come out of either, and each compresses as it should."""

from __future__ import annotations

import gzip
import sys

import pytest

from oakdata import _compression
from oakdata._compression import GZIP_LEVEL, Deflate, gzip_compress

SIZES = [1, 511, 512, 513, 40_000, 1024 * 1024]


def _body(size: int) -> bytes:
    # JSON-like text with repeats near and far, like a batch of similar events.
    words = [f'{{"event":"e{i % 37}","n":{i * 7919 % 1000}}}' for i in range(size // 20 + 1)]
    return ",".join(words).encode()[:size]


@pytest.fixture(params=["zlib", "isal"])
def deflate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Deflate:
    """The compressor gzip_compress uses for this test."""
    if request.param == "isal":
        chosen = _compression.isal_deflate()
        if chosen is None:
            pytest.skip("the speedups extra (isal) is not installed")
    else:
        chosen = _compression.zlib_deflate
    monkeypatch.setattr(_compression, "_chosen", chosen)
    return chosen


@pytest.mark.parametrize("size", SIZES)
def test_a_body_of_any_size_comes_back_whole(deflate: Deflate, size: int):
    body = _body(size)
    assert gzip.decompress(gzip_compress(body)) == body


@pytest.mark.parametrize("size", SIZES)
def test_zlib_compresses_as_well_as_with_the_default_window(size: int, monkeypatch):
    monkeypatch.setattr(_compression, "_chosen", _compression.zlib_deflate)
    body = _body(size)
    assert len(gzip_compress(body)) <= len(gzip.compress(body, compresslevel=GZIP_LEVEL)) + 8


@pytest.mark.parametrize("size", [40_000, 1024 * 1024])
def test_isal_compresses_nearly_as_well_as_zlib_at_its_level(size: int, monkeypatch):
    # ISA-L's level 0 would leave these half again as large as zlib's level 1.
    isal = _compression.isal_deflate()
    if isal is None:
        pytest.skip("the speedups extra (isal) is not installed")
    monkeypatch.setattr(_compression, "_chosen", isal)
    body = _body(size)
    assert len(gzip_compress(body)) <= 1.25 * len(gzip.compress(body, compresslevel=GZIP_LEVEL))


@pytest.fixture
def unchosen(monkeypatch: pytest.MonkeyPatch) -> None:
    """No compressor chosen yet, as in a fresh process."""
    monkeypatch.setattr(_compression, "_chosen", None)


def test_isal_is_chosen_when_it_can_be_imported(unchosen):
    pytest.importorskip("isal", reason="the speedups extra (isal) is not installed")
    assert _compression.deflater() is not _compression.zlib_deflate


def test_zlib_is_chosen_when_isal_cannot_be_imported(unchosen, monkeypatch):
    monkeypatch.setitem(sys.modules, "isal", None)  # import isal raises ImportError
    assert _compression.deflater() is _compression.zlib_deflate
    body = _body(40_000)
    assert gzip.decompress(gzip_compress(body)) == body
