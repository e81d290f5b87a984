"""captured == delivered + queued + dropped_total, whatever happened."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from httpbed import BedRequest, HttpBed, Reply
from oakdata import DROP_REASONS, Stats

from ._support import WAIT_SECONDS, assert_consistent


def _send_some(oak, n: int = 4) -> None:
    for i in range(n):
        oak.capture(f"u{i}", "e", {"i": i})


def _poison_413(request: BedRequest) -> Reply | None:
    if any(m.get("event") == "poison" for m in request.messages):
        return Reply(413)
    return None


SCENARIOS: dict[str, Callable[[HttpBed], None]] = {
    "ok": lambda bed: None,
    "500-then-ok": lambda bed: bed.script(Reply(500)),
    "401": lambda bed: bed.script(Reply(401)),
    "422": lambda bed: bed.script(Reply(422)),
    "down": lambda bed: setattr(bed, "responder", lambda r: Reply(503)),
    "rejections": lambda bed: bed.script(
        Reply(200, body={"accepted": 3, "duplicates": 0, "rejected": [{"index": 0, "reason": "x"}]})
    ),
    "413-poison": lambda bed: setattr(bed, "responder", _poison_413),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_counts_add_up_after_flush_and_after_shutdown(bed: HttpBed, make_client, scenario):
    SCENARIOS[scenario](bed)
    oak = make_client(max_queue_size=6, flush_at=100)
    assert_consistent(oak.stats())
    _send_some(oak)
    oak.capture("u", "poison")
    oak.capture("", "invalid")
    oak.capture("u", "big", {"blob": "x" * (300 * 1024)})
    _send_some(oak, 3)  # the queue holds 6: some of these are queue_full
    assert_consistent(oak.stats())
    oak.flush(timeout=WAIT_SECONDS)
    stats = oak.stats()
    assert_consistent(stats)
    assert stats.captured == 10
    assert stats.queued == 0
    oak.shutdown(timeout=WAIT_SECONDS)
    oak.capture("u", "late")
    stats = oak.stats()
    assert_consistent(stats)
    assert stats.captured == 11
    assert stats.dropped["after_shutdown"] == 1


def test_retried_counts_each_request_sent_again(bed: HttpBed, make_client):
    bed.script(Reply(500), Reply(502), Reply(503))
    oak = make_client(max_retries=5)
    _send_some(oak)
    oak.flush(timeout=WAIT_SECONDS)
    assert oak.stats().retried == 3
    assert len(bed.requests) == 4


def test_stats_is_a_frozen_snapshot_listing_every_drop_reason(oak):
    stats = oak.stats()
    assert isinstance(stats, Stats)
    assert set(stats.dropped) == set(DROP_REASONS)
    assert stats.dropped_total == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.captured = 5  # type: ignore[misc]
    oak.capture("u", "e")
    assert stats.captured == 0  # the earlier snapshot does not move
    assert oak.stats().captured == 1


def test_drop_reasons_are_the_documented_strings():
    assert set(DROP_REASONS) == {
        "invalid_input",
        "too_large",
        "queue_full",
        "after_shutdown",
        "rejected_by_server",
        "client_error",
        "oversized_for_server",
        "retries_exhausted",
        "shutdown_timeout",
        "before_send",
        "before_send_failed",
    }


def test_dropped_total_is_the_sum_of_the_reasons(oak):
    oak.capture("", "e")
    oak.capture("u", "")
    oak.capture("u", "big", {"blob": "x" * (300 * 1024)})
    stats = oak.stats()
    assert stats.dropped_total == 3 == sum(stats.dropped.values())


def test_drops_since_last_call_counts_each_drop_once():
    from oakdata._stats import Counters

    counters = Counters()
    assert counters.drops_since_last_call() == 0
    counters.captured_and_dropped("invalid_input", "capture: event is empty")
    counters.dropped("queue_full", 3, "full")
    assert counters.drops_since_last_call() == 4
    assert counters.drops_since_last_call() == 0
