"""The threaded client sends a backlog over two connections at once, and still counts right.

Against a distant server, throughput is bounded by round trips: while one batch waits for
its answer, the next one should already be on its way.
"""

from __future__ import annotations

import threading

from httpbed import BedRequest, HttpBed, Reply
from oakdata import OakClient
from oakdata.testing import MemoryTransport

from ._support import FAST_OPTIONS, SECRET_KEY, WAIT_SECONDS, assert_consistent


def test_a_backlog_is_sent_over_two_connections_at_once(bed: HttpBed) -> None:
    # The first request is answered only once another one arrives: with one connection
    # that never happens, and the first is released by the wait running out instead.
    second_arrived = threading.Event()
    first_seen = threading.Event()
    released_by_second: list[bool] = []

    def responder(request: BedRequest) -> Reply | None:
        if not first_seen.is_set():
            first_seen.set()
            released_by_second.append(second_arrived.wait(WAIT_SECONDS))
        else:
            second_arrived.set()
        return None

    bed.responder = responder
    oak = OakClient(SECRET_KEY, host=bed.url, **{**FAST_OPTIONS, "flush_at": 100})
    uuids = [oak.capture("user_1", "e", {"i": i}) for i in range(3000)]
    try:
        assert oak.flush(timeout=WAIT_SECONDS)
    finally:
        oak.shutdown(timeout=WAIT_SECONDS)
    assert released_by_second == [True]
    assert len({request.client_port for request in bed.requests}) == 2
    assert sorted(bed.uuids(bed.delivered_messages)) == sorted(uuids)


def test_flush_waits_for_an_earlier_batch_that_is_answered_after_a_later_one(
    bed: HttpBed,
) -> None:
    release_first = threading.Event()
    first_seen = threading.Event()

    def responder(request: BedRequest) -> Reply | None:
        if not first_seen.is_set():
            first_seen.set()
            release_first.wait(WAIT_SECONDS)
        return None

    bed.responder = responder
    oak = OakClient(SECRET_KEY, host=bed.url, **{**FAST_OPTIONS, "flush_at": 100})
    try:
        for i in range(3000):
            oak.capture("user_1", "e", {"i": i})
        bed.wait_for_settled(2)  # a later batch came back while the first is still held
        assert oak.flush(timeout=0.2) is False  # the first batch is not back yet
        stats = oak.stats()
        assert stats.queued >= 100
        assert_consistent(stats)
        release_first.set()
        assert oak.flush(timeout=WAIT_SECONDS)
        assert oak.stats().delivered == 3000
    finally:
        release_first.set()
        oak.shutdown(timeout=WAIT_SECONDS)


def test_a_transport_the_app_brings_gets_a_single_sender() -> None:
    transport = MemoryTransport()
    oak = OakClient(SECRET_KEY, transport=transport, flush_at=10)
    for i in range(500):
        oak.capture("user_1", "e", {"i": i})
    assert oak.shutdown(timeout=WAIT_SECONDS)
    workers = [t for t in threading.enumerate() if t.name == "oakdata-worker"]
    assert workers == []
    assert len(transport.messages) == 500
