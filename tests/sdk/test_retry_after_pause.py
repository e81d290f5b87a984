"""A server's Retry-After pauses the whole client, not only the batch it answered."""

from __future__ import annotations

import logging
import threading

import pytest

from httpbed import HttpBed, Reply
from oakdata import OakClient
from oakdata._delivery import Deliverer, Send, Wait
from oakdata._stats import Counters
from oakdata._wire import Response
from oakdata.testing import MemoryTransport

from ._support import SECRET_KEY, WAIT_SECONDS

MESSAGE = b'{"type":"capture"}'


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _deliverer(clock: FakeClock) -> Deliverer:
    config = OakClient(SECRET_KEY, transport=MemoryTransport(), max_retries=3)._config
    return Deliverer(config, Counters(), clock=clock)


def _answer(status: int, retry_after: str | None = None) -> Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Response(status, headers, b'{"accepted": 1, "duplicates": 0, "rejected": []}')


def test_a_batch_started_during_a_servers_pause_waits_out_the_rest_of_it():
    clock = FakeClock()
    deliverer = _deliverer(clock)
    first = deliverer.deliver([MESSAGE])
    assert isinstance(next(first), Send)
    wait = first.send(_answer(429, "10"))
    assert isinstance(wait, Wait)
    assert wait.seconds == 10

    clock.now += 4  # another sender's batch, four seconds into the pause
    second = deliverer.deliver([MESSAGE])
    action = next(second)
    assert isinstance(action, Wait)
    assert action.seconds == 6
    assert isinstance(second.send(False), Send)


def test_a_back_off_of_our_own_does_not_hold_other_batches_back():
    clock = FakeClock()
    deliverer = _deliverer(clock)
    first = deliverer.deliver([MESSAGE])
    next(first)
    assert isinstance(first.send(_answer(503)), Wait)  # no Retry-After: our own back-off
    assert isinstance(next(deliverer.deliver([MESSAGE])), Send)


def test_shutdown_during_the_pause_drops_the_waiting_batch_as_shutdown_timeout():
    clock = FakeClock()
    deliverer = _deliverer(clock)
    first = deliverer.deliver([MESSAGE])
    next(first)
    first.send(_answer(429, "10"))
    second = deliverer.deliver([MESSAGE, MESSAGE])
    assert isinstance(next(second), Wait)
    with pytest.raises(StopIteration) as done:
        second.send(True)  # the driver says: shutdown cut the wait short
    assert done.value.value == 2


class _RetryScheduled(logging.Handler):
    """Set once the client has read the 429 and scheduled its retry (debug=True logs it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("oakdata retry 1 "):
            self.seen.set()


def test_on_real_sockets_no_request_leaves_before_the_retry_after_ends(bed: HttpBed):
    bed.script(Reply(429, headers={"Retry-After": "1"}))
    scheduled = _RetryScheduled()
    logging.getLogger("oakdata").addHandler(scheduled)
    oak = OakClient(
        SECRET_KEY,
        host=bed.url,
        flush_at=1,
        flush_interval=0,
        retry_initial_delay=0.01,
        debug=True,
    )
    try:
        oak.capture("user", "first")
        assert scheduled.seen.wait(WAIT_SECONDS)
        # The first sender now waits out the pause; the next event finds it busy and
        # starts the second sender, which must wait too.
        oak.capture("user", "second")
        assert oak.flush(timeout=WAIT_SECONDS)
        refused, *later = bed.requests
        assert refused.status == 429
        assert len(later) == 2
        # A lower bound only: a busy machine can make it later, never earlier.
        assert min(r.received_at for r in later) - refused.received_at >= 0.9
    finally:
        oak.shutdown(timeout=WAIT_SECONDS)
