"""flush, shutdown, the context manager, the timer, flush_at, disabled and the queue bound."""

from __future__ import annotations

import threading
import time

import pytest

from httpbed import Delay, HttpBed, Reply
from oakdata import OakClient
from oakdata._queue import SHUTDOWN_RESERVE, ShutdownBudget

from ._support import SECRET_KEY, WAIT_SECONDS, assert_consistent, dropped_only, new_threads


def test_flush_with_nothing_queued_returns_true_and_sends_nothing(bed: HttpBed, make_client):
    oak = make_client()
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert bed.requests == []


def test_flush_returns_false_when_its_timeout_runs_out_mid_back_off(bed: HttpBed, make_client):
    bed.responder = lambda request: Reply(500)
    oak = make_client(max_retries=50, retry_initial_delay=20)
    oak.capture("u", "e")
    assert oak.flush(timeout=0.5) is False
    bed.wait_for_requests(1)
    assert_consistent(oak.stats())


def test_flush_returns_false_when_its_timeout_runs_out_against_a_slow_server(
    bed: HttpBed, make_client
):
    bed.script(Delay(60))
    oak = make_client(request_timeout=30)
    oak.capture("u", "e")
    assert oak.flush(timeout=0.5) is False
    assert_consistent(oak.stats())


def test_shutdown_returns_false_and_counts_shutdown_timeout_when_stuck_in_back_off(
    bed: HttpBed, make_client
):
    bed.responder = lambda request: Reply(503)
    oak = make_client(max_retries=50, retry_initial_delay=20)
    oak.capture("u", "e1")
    oak.capture("u", "e2")
    assert oak.flush(timeout=0.3) is False
    assert oak.shutdown(timeout=0.5) is False
    stats = oak.stats()
    dropped_only(stats, shutdown_timeout=2)
    assert stats.queued == 0
    assert_consistent(stats)


def test_shutdown_returns_false_when_the_server_hangs(bed: HttpBed, make_client):
    bed.script(Delay(60))
    oak = make_client(request_timeout=30)
    oak.capture("u", "e")
    assert oak.shutdown(timeout=0.5) is False
    stats = oak.stats()
    # still in flight, or already given up on; never delivered, never lost from the counts
    assert stats.delivered == 0
    assert stats.queued + stats.dropped["shutdown_timeout"] == 1
    assert_consistent(stats)


# A shutdown that ignored its budget would wait out a 60 s back-off or a 60 s request; this
# bound only tells those apart, on however busy a machine.
IGNORED_BUDGET_SECONDS = 20.0


@pytest.mark.parametrize("server", ["refuses-connections", "never-answers"])
def test_both_clients_give_up_within_shutdown_budget_and_count_what_they_gave_up(
    bed: HttpBed, refused_url: str, make_client, server: str
):
    if server == "refuses-connections":
        host = refused_url
    else:
        bed.responder = lambda request: Delay(60)
        host = bed.url
    oak = make_client(
        host=host, flush_at=2, max_retries=50, retry_initial_delay=60, request_timeout=30
    )
    uuids = [oak.capture("u", f"e{i}") for i in range(5)]
    assert None not in uuids
    started = time.monotonic()
    assert oak.shutdown(timeout=1.0) is False
    assert time.monotonic() - started < IGNORED_BUDGET_SECONDS
    stats = oak.stats()
    assert stats.delivered == 0
    assert_consistent(stats)
    if server == "refuses-connections":
        # Every sender was in a back-off that shutdown cut short, within the budget's reserve.
        dropped_only(stats, shutdown_timeout=5)
        assert stats.queued == 0
    else:
        # A request in flight ends by its own timeout in a thread; the task is cancelled.
        assert stats.queued + stats.dropped["shutdown_timeout"] == 5


def test_the_shutdown_budget_keeps_a_reserve_after_the_flush():
    budget = ShutdownBudget(2.0, now=100.0)
    assert budget.stop_timeout(100.0) == 2.0
    assert budget.flush_timeout(100.0) == pytest.approx(2.0 - SHUTDOWN_RESERVE)
    assert budget.flush_timeout(101.95) == 0.0
    assert budget.stop_timeout(101.95) == pytest.approx(0.05)
    assert budget.stop_timeout(103.0) == 0.0


def test_a_short_shutdown_budget_keeps_a_fifth_of_itself_in_reserve():
    budget = ShutdownBudget(0.1, now=0.0)
    assert budget.flush_timeout(0.0) == pytest.approx(0.08)
    assert ShutdownBudget(0.0, now=5.0).flush_timeout(5.0) == 0.0


def test_a_shutdown_without_timeout_has_no_deadline():
    budget = ShutdownBudget(None, now=100.0)
    assert budget.flush_timeout(1e9) is None
    assert budget.stop_timeout(1e9) is None


def test_shutdown_delivers_what_was_queued_and_returns_true(bed: HttpBed, make_client):
    oak = make_client(flush_at=100)
    uuids = [oak.capture("u", f"e{i}") for i in range(3)]
    assert oak.shutdown(timeout=WAIT_SECONDS) is True
    assert sorted(bed.uuids()) == sorted(uuids)
    assert oak.stats().delivered == 3


def test_shutdown_is_idempotent(bed: HttpBed, make_client):
    oak = make_client()
    oak.capture("u", "e")
    assert oak.shutdown(timeout=WAIT_SECONDS) is True
    assert oak.shutdown(timeout=WAIT_SECONDS) is True
    assert oak.shutdown() is True
    assert len(bed.messages) == 1


def test_shutdown_stops_the_worker_thread(bed: HttpBed):
    # OakClient's own thread; for AsyncOakClient's task see test_async_client.py.
    before = set(threading.enumerate())
    oak = OakClient(SECRET_KEY, host=bed.url, flush_interval=0.05)
    oak.capture("u", "e")
    bed.wait_for_messages(1)
    assert oak.shutdown(timeout=WAIT_SECONDS) is True
    assert new_threads(before) == set()


def test_calls_after_shutdown_return_none_and_count_after_shutdown(bed: HttpBed, make_client):
    oak = make_client()
    oak.shutdown(timeout=WAIT_SECONDS)
    assert oak.capture("u", "e") is None
    assert oak.identify("u", {"a": 1}) is None
    assert oak.alias("u", "v") is None
    assert oak.group_identify("company", "acme", {}) is None
    stats = oak.stats()
    assert stats.captured == 4
    dropped_only(stats, after_shutdown=4)
    assert oak.flush(timeout=1) is False  # the four were lost, and flush says so once
    assert oak.flush(timeout=1) is True
    assert bed.requests == []


def test_the_context_manager_shuts_down_on_exit(bed: HttpBed, new_client):
    with new_client(SECRET_KEY, host=bed.url, flush_interval=0) as oak:
        uuid = oak.capture("u", "e")
    assert bed.uuids() == [uuid]
    assert oak.capture("u", "after") is None
    assert oak.stats().dropped["after_shutdown"] == 1


def test_the_context_manager_shuts_down_when_the_body_raises(bed: HttpBed, new_client):
    class Boom(Exception):
        pass

    try:
        with new_client(SECRET_KEY, host=bed.url, flush_interval=0) as oak:
            uuid = oak.capture("u", "e")
            raise Boom
    except Boom:
        pass
    assert bed.uuids() == [uuid]


def test_flush_at_one_with_no_timer_sends_each_event_at_once(bed: HttpBed, make_client):
    oak = make_client(flush_at=1, flush_interval=0)
    first = oak.capture("u", "first")
    assert [m["uuid"] for m in bed.wait_for_messages(1)] == [first]
    second = oak.capture("u", "second")
    assert [m["uuid"] for m in bed.wait_for_messages(2)] == [first, second]


def test_flush_at_one_with_no_timer_shutdown_returns_true_once_delivered(bed: HttpBed, new_client):
    # The seed's serverless recipe: capture, then shutdown() before the function returns.
    oak = new_client(SECRET_KEY, host=bed.url, flush_at=1, flush_interval=0)
    uuid = oak.capture("u", "plan_upgraded", {"plan": "pro"})
    assert oak.shutdown() is True
    assert [m["uuid"] for m in bed.delivered_messages] == [uuid]


def test_flush_at_sends_a_batch_of_exactly_that_many_events_without_flush(
    bed: HttpBed, make_client
):
    oak = make_client(flush_at=3, flush_interval=0)
    uuids = [oak.capture("u", f"e{i}") for i in range(3)]
    (request,) = bed.wait_for_requests(1)
    assert [m["uuid"] for m in request.messages] == uuids


def test_the_flush_interval_timer_delivers_without_flush(bed: HttpBed, make_client):
    oak = make_client(flush_at=1000, flush_interval=0.05)
    uuid = oak.capture("u", "e")
    assert [m["uuid"] for m in bed.wait_for_messages(1)] == [uuid]


def test_a_disabled_client_starts_no_thread_and_sends_nothing(bed: HttpBed, new_client):
    before = set(threading.enumerate())
    oak = new_client(host=bed.url, disabled=True, flush_at=1)
    assert oak.capture("u", "e") is None
    assert oak.identify("u", {"a": 1}) is None
    assert oak.alias("u", "v") is None
    assert oak.group_identify("company", "acme") is None
    assert oak.flush(timeout=1) is True
    assert new_threads(before) == set()
    assert oak.shutdown(timeout=1) is True
    assert bed.requests == []
    stats = oak.stats()
    assert stats.captured == 0
    assert_consistent(stats)


def test_a_disabled_client_needs_no_key(bed: HttpBed, new_client):
    assert new_client(disabled=True).capture("u", "e") is None


def test_a_full_queue_drops_new_events_as_queue_full_without_blocking(
    refused_url: str, make_client
):
    oak = make_client(
        host=refused_url, max_queue_size=5, flush_at=1000, retry_initial_delay=20, max_retries=5
    )
    results = [oak.capture("u", f"e{i}") for i in range(20)]
    assert all(results[:5])
    assert results[5:] == [None] * 15
    stats = oak.stats()
    assert stats.dropped["queue_full"] == 15
    assert stats.queued == 5
    assert_consistent(stats)
    oak.shutdown(timeout=0.2)
    assert_consistent(oak.stats())


def test_a_server_that_stays_down_keeps_the_queue_bounded(refused_url: str, make_client):
    oak = make_client(
        host=refused_url, max_queue_size=10, flush_at=2, retry_initial_delay=20, max_retries=100
    )
    for i in range(200):
        oak.capture("u", f"e{i}")
    stats = oak.stats()
    # at most max_queue_size waiting, plus a batch (itself cut from the queue) in flight on
    # each of the threaded client's two connections
    assert stats.queued <= 30
    assert stats.dropped["queue_full"] >= 170
    assert_consistent(stats)
    oak.shutdown(timeout=0.2)
