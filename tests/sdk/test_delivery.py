"""What the client does with each class of answer, against a real misbehaving server."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from httpbed import (
    BedRequest,
    CloseWithoutReply,
    Delay,
    HttpBed,
    PartialReply,
    Reply,
    ResetConnection,
    reject_413_when,
)
from oakdata._batching import build_body

from ._support import WAIT_SECONDS, assert_consistent, dropped_only

MAX_BODY_BYTES = 1024 * 1024


def _capture(oak, n: int, event: str = "e") -> list[str]:
    uuids = [oak.capture(f"user-{i}", event, {"i": i}) for i in range(n)]
    assert all(uuids), uuids
    return uuids


def _oakdata_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name.startswith("oakdata") and r.levelno >= logging.ERROR
    ]


# ----------------------------------------------------------------------------- 2xx


def test_successive_requests_reuse_one_kept_alive_connection(bed: HttpBed, make_client):
    oak = make_client()
    for _ in range(3):
        _capture(oak, 1)
        assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) == 3
    assert len({r.client_port for r in bed.requests}) == 1


def test_a_flushed_batch_is_delivered_and_flush_returns_true(bed: HttpBed, make_client):
    oak = make_client()
    uuids = _capture(oak, 3)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert sorted(bed.uuids()) == sorted(uuids)
    stats = oak.stats()
    assert (stats.delivered, stats.queued) == (3, 0)
    dropped_only(stats)


def test_messages_listed_as_rejected_in_a_200_are_counted_as_rejected_by_server_not_retried(
    bed: HttpBed, make_client
):
    bed.script(
        Reply(200, body={"accepted": 2, "duplicates": 0, "rejected": [{"index": 1, "reason": "x"}]})
    )
    oak = make_client()
    _capture(oak, 3)
    oak.flush(timeout=WAIT_SECONDS)
    stats = oak.stats()
    assert stats.delivered == 2
    assert stats.retried == 0
    dropped_only(stats, rejected_by_server=1)
    assert_consistent(stats)
    # Not retried: the next request carries only the next event.
    later = oak.capture("user-x", "later")
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert [m["uuid"] for m in bed.requests[-1].messages] == [later]
    assert len(bed.requests) == 2


def test_duplicates_in_a_200_count_as_delivered(bed: HttpBed, make_client):
    bed.script(Reply(200, body={"accepted": 0, "duplicates": 2, "rejected": []}))
    oak = make_client()
    _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    stats = oak.stats()
    assert stats.delivered == 2
    dropped_only(stats)


# ----------------------------------------------------------------------------- 4xx


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_client_error_drops_the_batch_as_client_error_without_retrying(
    bed: HttpBed, make_client, status: int
):
    bed.script(Reply(status))
    oak = make_client()
    _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is False
    stats = oak.stats()
    dropped_only(stats, client_error=2)
    assert stats.retried == 0
    assert_consistent(stats)
    later = oak.capture("user-x", "later")
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) == 2
    assert [m["uuid"] for m in bed.requests[1].messages] == [later]


def test_a_401_is_logged_at_error_once_saying_the_key_was_rejected(
    bed: HttpBed, make_client, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="oakdata")
    bed.script(Reply(401), Reply(401))
    oak = make_client()
    _capture(oak, 5)
    oak.flush(timeout=WAIT_SECONDS)
    _capture(oak, 5)
    oak.flush(timeout=WAIT_SECONDS)
    errors = _oakdata_errors(caplog)
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "key" in errors[0].getMessage().lower()
    dropped_only(oak.stats(), client_error=10)


def test_different_client_error_causes_are_each_logged_at_error(
    bed: HttpBed, make_client, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="oakdata")
    bed.script(Reply(401), Reply(422))
    oak = make_client()
    _capture(oak, 1)
    oak.flush(timeout=WAIT_SECONDS)
    _capture(oak, 1)
    oak.flush(timeout=WAIT_SECONDS)
    errors = _oakdata_errors(caplog)
    assert len(errors) == 2, [r.getMessage() for r in errors]


# ----------------------------------------------------------------------------- 413


def test_413_splits_the_batch_in_halves_so_one_oversized_event_spares_its_neighbours(
    bed: HttpBed, make_client
):
    def refuse_poison(request: BedRequest) -> Reply | None:
        if any(m.get("event") == "poison" for m in request.messages):
            return Reply(413)
        return None

    bed.responder = refuse_poison
    oak = make_client(flush_at=100)
    good = _capture(oak, 3)
    poison = oak.capture("user-p", "poison")  # eight events, the poison among them
    good += _capture(oak, 4)
    assert oak.flush(timeout=WAIT_SECONDS) is False
    delivered = {m["uuid"] for m in bed.delivered_messages}
    assert delivered == set(good)
    assert poison not in delivered
    sizes_with_poison = [
        len(r.messages) for r in bed.requests if any(m["uuid"] == poison for m in r.messages)
    ]
    assert sizes_with_poison == [8, 4, 2, 1]
    stats = oak.stats()
    assert stats.delivered == 7
    dropped_only(stats, oversized_for_server=1)


def test_413_on_batches_larger_than_the_server_takes_delivers_everything_in_smaller_requests(
    bed: HttpBed, make_client
):
    bed.responder = reject_413_when(max_messages=2)
    oak = make_client(flush_at=100)
    uuids = _capture(oak, 9)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert sorted(m["uuid"] for m in bed.delivered_messages) == sorted(uuids)
    assert all(len(r.messages) <= 2 for r in bed.requests if r.delivered)
    dropped_only(oak.stats())


# ----------------------------------------------------------------------------- 429 / 5xx


def test_429_with_retry_after_seconds_is_retried_no_sooner_than_told(bed: HttpBed, make_client):
    # The one test that waits out a real Retry-After, to see the header reach the plan and
    # each shell wait as long as it says. The forms, the cap and bad values are checked
    # without waiting in test_retry_policy.py and test_delivery_plan.py.
    bed.script(Reply(429, headers={"Retry-After": "1"}))
    oak = make_client()
    uuids = _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    first, second = bed.requests
    assert sorted(m["uuid"] for m in second.messages) == sorted(uuids)
    # A lower bound only (a loaded machine only makes the gap longer): with a 0.01 s back-off,
    # ignoring Retry-After would resend within milliseconds.
    assert second.received_at - first.received_at >= 0.9
    assert oak.stats().retried == 1


def test_5xx_is_retried_with_the_same_uuids_until_the_server_recovers(bed: HttpBed, make_client):
    bed.script(Reply(500), Reply(503))
    oak = make_client(max_retries=3)
    uuids = _capture(oak, 3)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) == 3
    for request in bed.requests:
        assert [m["uuid"] for m in request.messages] == uuids
        # and the messages themselves are identical across retries, timestamps included
        assert request.messages == bed.requests[0].messages
    stats = oak.stats()
    assert (stats.delivered, stats.retried) == (3, 2)
    dropped_only(stats)


def test_retries_stop_after_max_retries_and_the_batch_is_counted_as_retries_exhausted(
    bed: HttpBed, make_client
):
    bed.responder = lambda request: Reply(500)
    oak = make_client(max_retries=2)
    _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is False
    assert len(bed.requests) == 3
    stats = oak.stats()
    assert stats.retried == 2
    dropped_only(stats, retries_exhausted=2)
    assert_consistent(stats)


def test_408_is_retried(bed: HttpBed, make_client):
    bed.script(Reply(408))
    oak = make_client()
    uuids = _capture(oak, 1)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert [r.messages[0]["uuid"] for r in bed.requests] == uuids * 2


# ----------------------------------------------------------------------------- the network


def test_a_server_slower_than_request_timeout_is_retried(bed: HttpBed, make_client):
    bed.script(Delay(30))
    oak = make_client(request_timeout=1.0, max_retries=4)
    uuids = _capture(oak, 1)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) >= 2
    assert {r.messages[0]["uuid"] for r in bed.requests} == set(uuids)
    assert bed.requests[0].outcome in ("pending", "aborted")
    assert oak.stats().retried >= 1
    assert oak.stats().delivered == 1


def test_a_refused_connection_is_retried_then_counted_as_retries_exhausted(
    refused_url: str, make_client
):
    oak = make_client(host=refused_url, max_retries=1)
    _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is False
    stats = oak.stats()
    assert stats.retried == 1
    dropped_only(stats, retries_exhausted=2)
    assert_consistent(stats)


@pytest.mark.parametrize(
    "misbehaviour",
    [CloseWithoutReply(), ResetConnection(), PartialReply(503)],
    ids=["closed-without-reply", "reset", "503-closed-mid-response"],
)
def test_a_broken_connection_is_retried_and_delivered_once(bed: HttpBed, make_client, misbehaviour):
    bed.script(misbehaviour)
    oak = make_client()
    uuids = _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) >= 2
    assert all(sorted(m["uuid"] for m in r.messages) == sorted(uuids) for r in bed.requests)
    stats = oak.stats()
    assert stats.delivered == 2
    dropped_only(stats)
    assert_consistent(stats)


# ----------------------------------------------------------------------------- batching


def test_request_bodies_stay_under_one_mebibyte(bed: HttpBed, make_client):
    oak = make_client(flush_at=1000)
    big = "x" * (200 * 1024)
    uuids = [oak.capture(f"user-{i}", "big", {"blob": big}) for i in range(12)]
    assert all(uuids)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert len(bed.requests) >= 3
    assert all(len(r.body) <= MAX_BODY_BYTES for r in bed.requests)
    assert sorted(m["uuid"] for m in bed.messages) == sorted(uuids)


def test_requests_carry_at_most_one_thousand_messages(bed: HttpBed, make_client):
    oak = make_client(flush_at=5000)
    uuids = _capture(oak, 2500)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert all(len(r.messages) <= 1000 for r in bed.requests)
    assert len(bed.requests) >= 3
    assert sorted(m["uuid"] for m in bed.messages) == sorted(uuids)


def test_a_backlog_drains_with_more_than_flush_at_events_per_request(bed: HttpBed, make_client):
    gate = threading.Event()

    def hold_the_first_request(request: BedRequest) -> None:
        if len(bed.requests) == 1:
            gate.wait(WAIT_SECONDS)

    bed.responder = hold_the_first_request
    oak = make_client(flush_at=5)
    first = _capture(oak, 5)
    bed.wait_for_requests(1)
    backlog = _capture(oak, 50)
    gate.set()
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert sorted(m["uuid"] for m in bed.messages) == sorted(first + backlog)
    assert max(len(r.messages) for r in bed.requests[1:]) > 5


def test_a_200_cut_off_mid_body_neither_loses_nor_double_counts_events(bed: HttpBed, make_client):
    # The status line said 200, so the batch was stored; a retry would be harmless (uuid
    # de-duplication), so either choice is right as long as the counts stay exact.
    bed.script(PartialReply(200))
    oak = make_client()
    uuids = _capture(oak, 2)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert all(sorted(m["uuid"] for m in r.messages) == sorted(uuids) for r in bed.requests)
    stats = oak.stats()
    assert stats.delivered == 2
    dropped_only(stats)
    assert_consistent(stats)


@pytest.mark.parametrize("count", [0, 1, 2, 3, 1000])
def test_a_body_carries_every_message_in_order_and_the_sent_at(count: int):
    messages = [json.dumps({"n": n}).encode() for n in range(count)]
    body = json.loads(build_body(messages, "2026-01-02T03:04:05.000006Z"))
    assert body == {
        "batch": [{"n": n} for n in range(count)],
        "sent_at": "2026-01-02T03:04:05.000006Z",
    }
