"""The queue's bookkeeping as plain state: puts, when a batch is due, flush waiters, and
batches resolving out of order. No thread, no loop, no clock but the `now` a test passes.

Items are opaque bytes to the queue; batches here are cut at a fixed count so that the
tests choose where one batch ends and the next begins. The spool's side of the queue is
tested with real files in tests/spool.
"""

from __future__ import annotations

from collections import deque

import pytest

from oakdata._queue import Batch, QueueSettings, QueueState

BATCH_ITEMS = 2


def _take(items: deque[bytes]) -> list[bytes]:
    return [items.popleft() for _ in range(min(BATCH_ITEMS, len(items)))]


def _state(*, flush_at: int = 100, flush_interval: float = 0.0, max_items: int = 100) -> QueueState:
    return QueueState(
        QueueSettings(
            take=_take, flush_at=flush_at, flush_interval=flush_interval, max_items=max_items
        )
    )


def _put(state: QueueState, count: int) -> list[bool | None]:
    start = state.put_count
    return [state.put(b"item-%d" % n) for n in range(start + 1, start + count + 1)]


def _take_due(state: QueueState, now: float = 0.0) -> Batch:
    batch, wait = state.next_batch(now)
    assert batch is not None, f"no batch was due (wait {wait})"
    return batch


# ----------------------------------------------------------------------------- put


def test_put_asks_for_the_sender_once_flush_at_items_wait():
    state = _state(flush_at=3)
    assert _put(state, 4) == [False, False, True, True]
    assert (state.waiting(), state.pending(), state.put_count) == (4, 4, 4)


def test_a_full_queue_refuses_the_item_and_counts_nothing():
    state = _state(max_items=2)
    assert _put(state, 3) == [False, False, None]
    assert (state.waiting(), state.put_count) == (2, 2)


def test_the_batches_in_flight_do_not_count_against_the_queue_bound():
    state = _state(max_items=2)
    _put(state, 2)
    state.request_flush()
    _take_due(state)
    assert _put(state, 2) == [False, False]


def test_unput_takes_back_the_item_just_put():
    state = _state()
    _put(state, 2)
    assert state.unput() is True
    assert (list(state.items), state.put_count) == ([b"item-1"], 1)


# ----------------------------------------------------------------------------- when a batch is due


def test_an_empty_queue_waits_until_woken():
    assert _state(flush_interval=5.0).next_batch(now=123.0) == (None, None)


def test_without_a_timer_items_wait_for_flush_at_or_a_flush():
    state = _state(flush_at=3)
    _put(state, 2)
    assert state.next_batch(now=1e9) == (None, None)
    _put(state, 1)
    assert _take_due(state).items == [b"item-1", b"item-2"]


def test_with_a_timer_the_oldest_item_is_due_flush_interval_after_it_was_put():
    state = _state(flush_interval=10.0)
    _put(state, 1)
    put_at = state.oldest_put_at
    assert state.next_batch(now=put_at + 4.0) == (None, 6.0)
    _put(state, 1)  # a later item does not move the due time
    assert state.next_batch(now=put_at + 9.0) == (None, 1.0)
    assert _take_due(state, now=put_at + 10.0).items == [b"item-1", b"item-2"]


def test_what_remains_after_a_batch_is_due_one_interval_after_it_was_cut():
    state = _state(flush_interval=10.0)
    _put(state, 3)
    cut_at = state.oldest_put_at + 10.0
    _take_due(state, now=cut_at)
    assert state.next_batch(now=cut_at + 1.0) == (None, 9.0)
    assert _take_due(state, now=cut_at + 10.0).items == [b"item-3"]


def test_stopping_sends_whatever_waits():
    state = _state(flush_interval=10.0)
    _put(state, 1)
    assert not state.finished()
    state.stopping = True
    assert _take_due(state, now=state.oldest_put_at).items == [b"item-1"]
    assert state.finished()


def test_batches_carry_consecutive_sequence_numbers():
    state = _state(flush_at=1)
    _put(state, 5)
    batches = [_take_due(state) for _ in range(3)]
    assert [(b.first_sequence, len(b.items)) for b in batches] == [(1, 2), (3, 2), (5, 1)]
    assert state.in_flight == {1, 3, 5}
    assert state.next_batch(now=0.0) == (None, None)


# ----------------------------------------------------------------------------- flush waiters


def test_a_flush_with_nothing_pending_needs_no_waiter():
    state = _state()
    assert state.request_flush() is None
    _put(state, 1)
    assert state.request_flush() is not None
    state.resolved(_take_due(state), failed=0)
    assert state.request_flush() is None


def test_a_flush_makes_everything_put_before_it_due_and_is_done_when_that_resolved():
    state = _state(flush_at=100)
    _put(state, 3)
    waiter = state.request_flush()
    assert waiter is not None
    assert waiter.target == 3
    _put(state, 1)  # after the flush: not its business, and not due on its account
    first, second = _take_due(state), _take_due(state)
    assert [first.items, second.items] == [[b"item-1", b"item-2"], [b"item-3", b"item-4"]]
    state.resolved(first, failed=0)
    assert not state.is_done(waiter)
    state.resolved(second, failed=0)
    assert state.is_done(waiter)
    assert not waiter.failed


def test_a_failure_marks_the_flushes_that_waited_for_it_and_no_earlier_one():
    state = _state()
    _put(state, 2)
    early = state.request_flush()
    _put(state, 2)
    late = state.request_flush()
    assert early is not None
    assert late is not None
    first, second = _take_due(state), _take_due(state)
    state.resolved(first, failed=0)
    state.resolved(second, failed=1)
    assert state.is_done(early)
    assert state.is_done(late)
    assert (early.failed, late.failed) == (False, True)


# ----------------------------------------------------------------------------- out of order


def test_batches_resolving_out_of_order_count_only_the_prefix_that_is_entirely_back():
    state = _state(flush_at=1)
    _put(state, 2)
    first_only = state.request_flush()
    _put(state, 4)
    assert first_only is not None
    batches = [_take_due(state) for _ in range(3)]
    state.resolved(batches[1], failed=0)
    state.resolved(batches[2], failed=0)
    assert (state.resolved_count, state.pending()) == (0, 6)
    assert not state.is_done(first_only)
    state.resolved(batches[0], failed=0)
    assert (state.resolved_count, state.pending(), state.in_flight) == (6, 0, set())
    assert state.is_done(first_only)


def test_a_later_batch_back_first_leaves_the_count_at_the_batch_still_out():
    state = _state(flush_at=1)
    _put(state, 6)
    batches = [_take_due(state) for _ in range(3)]
    state.resolved(batches[0], failed=0)
    state.resolved(batches[2], failed=0)
    assert state.resolved_count == 2
    state.resolved(batches[1], failed=0)
    assert state.resolved_count == 6


# ----------------------------------------------------------------------------- discard, requeue


def test_discard_waiting_gives_up_on_what_was_not_handed_out_and_fails_only_its_flushes():
    state = _state(flush_at=100)
    _put(state, 2)
    early = state.request_flush()
    in_flight = _take_due(state)
    _put(state, 3)
    late = state.request_flush()
    assert early is not None
    assert late is not None
    assert state.discard_waiting() == 3
    assert (state.waiting(), state.resolved_count) == (0, 0)  # the batch out is not back
    assert (early.failed, late.failed) == (False, True)
    state.resolved(in_flight, failed=0)
    assert (state.resolved_count, state.pending()) == (5, 0)
    assert state.is_done(early)
    assert state.is_done(late)


def test_discard_waiting_with_nothing_waiting_fails_no_flush():
    state = _state()
    _put(state, 2)
    waiter = state.request_flush()
    assert waiter is not None
    batch = _take_due(state)
    assert state.discard_waiting() == 0
    state.resolved(batch, failed=0)
    assert state.is_done(waiter)
    assert not waiter.failed


def test_a_requeued_batch_goes_back_to_the_front_and_is_taken_again_unchanged():
    state = _state(flush_at=1)
    _put(state, 3)
    batch = _take_due(state)
    state.requeue(batch)
    assert list(state.items) == [b"item-1", b"item-2", b"item-3"]
    assert (state.taken_count, state.in_flight) == (0, set())
    again = _take_due(state)
    assert (again.items, again.first_sequence) == (batch.items, batch.first_sequence)


@pytest.mark.parametrize("abandoned", [False, True])
def test_a_batch_given_up_at_shutdown_still_resolves_its_place_in_the_queue(abandoned: bool):
    state = _state(flush_at=1)
    _put(state, 2)
    waiter = state.request_flush()
    assert waiter is not None
    state.resolved(_take_due(state), failed=2, abandoned=abandoned)
    assert state.is_done(waiter)
    assert waiter.failed
