"""Message ids (UUIDv7) and timestamps: their form, their time, and that they differ."""

from __future__ import annotations

import itertools
import re
import threading
import uuid as uuidlib
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oakdata import _ids

UUID7_AFTER_MILLISECOND = re.compile(r"[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Sets the time the ids read, in ns, from a fresh cache; the real clock is back after."""
    now = [0]
    monkeypatch.setattr(_ids, "time_ns", lambda: now[0])
    monkeypatch.setattr(_ids, "_current", (-1, "", "", ""))

    def set_time(ns: int) -> None:
        now[0] = ns

    return set_time


@given(ns=st.integers(min_value=0, max_value=2**62))  # to the year 2116
@example(ns=1_800_000_000_999_999_999)
@example(ns=0)
def test_an_id_and_its_timestamp_carry_the_time_they_were_made_at(ns):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_ids, "time_ns", lambda: ns)
        uuid, stamp = _ids.new_ids()
    assert stamp == _ids.rfc3339(ns)
    parsed = uuidlib.UUID(uuid)
    assert (parsed.version, parsed.variant) == (7, uuidlib.RFC_4122)
    assert int(uuid.replace("-", "")[:12], 16) == ns // 1_000_000
    assert UUID7_AFTER_MILLISECOND.fullmatch(uuid[15:])


def test_ids_of_one_millisecond_share_a_tail_and_count_up(clock):
    clock(1_800_000_000_123_000_000)
    first, second = _ids.new_ids()[0], _ids.new_ids()[0]
    assert first[18:] == second[18:]
    assert int(second[15:18], 16) == (int(first[15:18], 16) + 1) % 4096
    clock(1_800_000_000_124_000_000)
    assert _ids.new_ids()[0][18:] != first[18:]  # a new millisecond draws a new tail


def test_as_many_ids_in_one_millisecond_as_the_counter_holds_are_all_different(clock):
    clock(1_800_000_000_123_000_000)
    made = [_ids.new_ids()[0] for _ in range(4096)]
    assert len(set(made)) == len(made)
    assert {uuid[:13] for uuid in made} == {made[0][:13]}  # all in that one millisecond


def test_reseed_draws_a_new_tail_within_the_same_millisecond(clock):
    clock(1_800_000_000_123_000_000)
    before = _ids.new_ids()[0]
    _ids.reseed()
    assert _ids.new_ids()[0][18:] != before[18:]


def test_ids_made_by_many_threads_at_once_are_all_different(clock):
    # All in one millisecond, and fewer than the counter holds: only an unsafe counter or
    # tail pool could make two alike.
    clock(1_800_000_000_123_000_000)
    made: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(_ids.new_ids()[0] for _ in range(500))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = list(itertools.chain.from_iterable(made))
    assert len(set(every)) == len(every) == 4000
