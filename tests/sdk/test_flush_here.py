"""flush() sends a small batch from its caller's thread, and hands what it cannot finish
before its deadline (a back-off) to a sender thread, which finishes it."""

from __future__ import annotations

import threading

from httpbed import HttpBed, Reply
from oakdata import OakClient

from ._support import SECRET_KEY, WAIT_SECONDS, assert_consistent, dropped_only


def _client(bed: HttpBed, **options: object) -> OakClient:
    settings: dict[str, object] = {"flush_at": 1, "flush_interval": 0, **options}
    return OakClient(SECRET_KEY, host=bed.url, **settings)  # type: ignore[arg-type]


def test_a_flush_that_runs_out_during_a_back_off_leaves_the_rest_to_a_sender(bed: HttpBed):
    bed.script(Reply(503))  # the first attempt fails; the retry, a second later, succeeds
    oak = _client(bed, retry_initial_delay=2.0)
    try:
        uuid = oak.capture("user", "signed_up")
        assert oak.flush(timeout=0.3) is False  # the back-off is longer than the flush
        assert oak.flush(timeout=WAIT_SECONDS) is True  # a sender thread finished it
        assert bed.uuids(bed.delivered_messages) == [uuid]
        stats = oak.stats()
        assert (stats.delivered, stats.retried) == (1, 1)
        dropped_only(stats)
    finally:
        oak.shutdown(timeout=WAIT_SECONDS)


def test_shutdown_during_a_handed_over_back_off_counts_the_batch_and_returns(bed: HttpBed):
    bed.responder = lambda request: Reply(503)
    oak = _client(bed, retry_initial_delay=5.0)
    oak.capture("user", "signed_up")
    assert oak.flush(timeout=0.2) is False
    assert oak.shutdown(timeout=0.5) is False
    stats = oak.stats()
    assert_consistent(stats)
    dropped_only(stats, shutdown_timeout=1)


def test_threads_flushing_at_once_deliver_every_event_once(bed: HttpBed):
    oak = _client(bed)
    uuids: list[str | None] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def request_handler(n: int) -> None:
        start.wait(WAIT_SECONDS)
        for i in range(25):
            uuid = oak.capture(f"user_{n}", "viewed", {"i": i})
            assert oak.flush(timeout=WAIT_SECONDS)
            with lock:
                uuids.append(uuid)

    threads = [threading.Thread(target=request_handler, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    assert oak.shutdown(timeout=WAIT_SECONDS)
    assert len(uuids) == 200
    assert sorted(bed.uuids(bed.delivered_messages)) == sorted(uuids)  # type: ignore[type-var]
