"""Losses are reported: on_error hears of every drop, flush() and shutdown() say False when
anything was lost, and a batch job can wait for room instead of dropping."""

from __future__ import annotations

import logging
import threading

import pytest

from httpbed import Delay, HttpBed, Reply
from oakdata import DropReport, OakClient

from ._support import SECRET_KEY, WAIT_SECONDS, MakeClient, dropped_only

BACKFILL_EVENTS = 30_000


class Reports:
    """An on_error callback that records what it is told, and on which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reports: list[DropReport] = []
        self.threads: set[int] = set()

    def __call__(self, report: DropReport) -> None:
        with self.lock:
            self.reports.append(report)
            self.threads.add(threading.get_ident())

    def total(self, reason: str) -> int:
        with self.lock:
            return sum(r.count for r in self.reports if r.reason == reason)


# -- on_error -----------------------------------------------------------------------------


def test_on_error_hears_of_a_rejected_key_with_its_status_off_the_callers_thread(
    bed: HttpBed, make_client: MakeClient
):
    bed.responder = lambda request: Reply(401)
    reports = Reports()
    oak = make_client(on_error=reports)
    for n in range(5):
        oak.capture("user", "signed_up", {"n": n})
    assert not oak.shutdown(timeout=WAIT_SECONDS)
    assert reports.total("client_error") == 5
    assert {r.status for r in reports.reports} == {401}
    assert all("401" in r.message for r in reports.reports)
    assert threading.get_ident() not in reports.threads


def test_on_error_hears_of_drops_at_capture_time_too(make_client: MakeClient):
    reports = Reports()
    oak = make_client(on_error=reports)
    oak.capture("", "no_id")
    oak.capture("user", "huge", {"blob": "x" * 300_000})
    oak.shutdown(timeout=WAIT_SECONDS)
    assert reports.total("invalid_input") == 1
    assert reports.total("too_large") == 1
    assert all(r.status is None for r in reports.reports)


def test_an_on_error_that_raises_never_reaches_the_app_and_is_logged_once(
    bed: HttpBed, make_client: MakeClient, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.ERROR, logger="oakdata")
    calls: list[DropReport] = []

    def broken(report: DropReport) -> None:
        calls.append(report)
        raise ValueError("from the app's callback")

    oak = make_client(on_error=broken)
    oak.capture("", "no_id")
    bed.responder = lambda request: Reply(403)
    oak.capture("user", "refused")
    assert not oak.flush(timeout=WAIT_SECONDS)
    oak.capture("user", "still_captured")  # the client goes on working
    oak.shutdown(timeout=WAIT_SECONDS)
    assert {r.reason for r in calls} == {"invalid_input", "client_error"}
    raised = [r for r in caplog.records if "on_error callback raised" in r.getMessage()]
    assert len(raised) == 1


# -- flush() and shutdown() say whether anything was lost ---------------------------------


def test_flush_says_false_when_events_were_dropped_since_the_previous_answer(
    make_client: MakeClient,
):
    oak = make_client()
    oak.capture("user", "fine")
    oak.capture("", "dropped_as_invalid")
    assert not oak.flush(timeout=WAIT_SECONDS)
    oak.capture("user", "fine_again")
    assert oak.flush(timeout=WAIT_SECONDS)  # the earlier loss was already reported


def test_shutdown_says_false_after_a_backfill_that_overflowed_the_queue(
    bed: HttpBed, make_client: MakeClient
):
    bed.script(Delay(0.5))  # the first request is slow: the queue fills behind it
    oak = make_client(max_queue_size=100, flush_at=50)
    for n in range(2_000):
        oak.capture("user", "backfilled", {"n": n})
    assert not oak.shutdown(timeout=WAIT_SECONDS)
    assert oak.stats().dropped["queue_full"] > 0


# -- on_queue_full="block" ------------------------------------------------------------------


def test_a_backfill_that_blocks_on_a_full_queue_delivers_every_event(bed: HttpBed):
    bed.script(Delay(0.5))  # the queue is full long before the first answer
    oak = OakClient(
        SECRET_KEY,
        host=bed.url,
        max_queue_size=1_000,
        flush_at=500,
        on_queue_full="block",
    )
    uuids = {oak.capture("user", "backfilled", {"n": n}) for n in range(BACKFILL_EVENTS)}
    assert oak.shutdown(timeout=60)
    assert None not in uuids
    assert set(bed.uuids(bed.delivered_messages)) == uuids
    stats = oak.stats()
    assert stats.delivered == BACKFILL_EVENTS
    dropped_only(stats)


def test_a_blocked_capture_gives_up_after_block_timeout_and_counts_queue_full(bed: HttpBed):
    release = threading.Event()
    bed.responder = lambda request: None if release.wait(WAIT_SECONDS) else Reply(503)
    oak = OakClient(
        SECRET_KEY,
        host=bed.url,
        max_queue_size=10,
        flush_at=10,
        flush_interval=0,
        on_queue_full="block",
        block_timeout=0.2,
    )
    try:
        for n in range(20):
            oak.capture("user", "in_flight", {"n": n})
        bed.wait_for_requests(2)  # both senders hold a batch of ten; ten more fill the queue
        for n in range(10):
            oak.capture("user", "waiting", {"n": n})
        assert oak.capture("user", "no_room") is None
        assert oak.stats().dropped["queue_full"] == 1
    finally:
        release.set()
        oak.shutdown(timeout=WAIT_SECONDS)


def test_the_asyncio_client_refuses_to_block_its_loop():
    from oakdata import AsyncOakClient

    with pytest.raises(ValueError, match="on_queue_full"):
        AsyncOakClient(SECRET_KEY, on_queue_full="block")
