"""The compiled module (_speedups.c) does what its pure Python form does, byte for byte.

test_capture_forms runs every capture case through both forms; these are the cases only
the compiled one has: its own id cache, its quoting, its reference counting, and that the
install under test has it at all.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oakdata import _capture, _compiled, _ids, _message
from oakdata._encoding import Encoder

speedups = _compiled.speedups
UUID_AND_STAMP = re.compile(
    rb'"uuid":"[0-9a-f-]{36}","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"'
)


def test_the_compiled_module_is_there_when_the_run_expects_it():
    # scripts/test sets this for the run that must test the compiled form: a build that
    # failed quietly (the module is optional) would otherwise pass as the pure one.
    expected = os.environ.get("OAK_EXPECT_COMPILED")
    if expected is None:
        pytest.skip("OAK_EXPECT_COMPILED is not set for this run")
    assert (speedups is not None) == (expected == "1")


def test_oakdata_pure_python_turns_the_compiled_module_off():
    code = "from oakdata import _compiled, _ids; print(_compiled.speedups, _ids.new_ids.__module__)"
    env = {**os.environ, _compiled.PURE_PYTHON_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "oakdata._ids"]


needs_compiled = pytest.mark.skipif(speedups is None, reason="no compiled module here")


@needs_compiled
def test_a_build_of_another_api_version_is_left_unused(monkeypatch):
    # An editable install whose C source changed since it was built, say.
    monkeypatch.setattr(speedups, "API_VERSION", _compiled.API_VERSION + 1)
    assert _compiled._load() is None
    monkeypatch.undo()
    assert _compiled._load() is speedups


@needs_compiled
def test_a_subinterpreter_runs_the_pure_form(tmp_path):
    # The compiled ids' state is one per process, configured by the main interpreter.
    testcapi = pytest.importorskip("_testcapi")
    out = tmp_path / "seen"
    code = (
        "from oakdata import _compiled, _ids\n"
        f"open({str(out)!r}, 'w').write(repr((_compiled.speedups, _ids.new_ids.__module__)))"
    )
    assert testcapi.run_in_subinterp(code) == 0
    assert out.read_text() == "(None, 'oakdata._ids')"
    assert _ids.new_ids.__module__ != "oakdata._ids"  # and the main one goes on compiled


@pytest.fixture
def clock() -> Iterator[Callable[[int], None]]:
    """Sets the time the compiled ids read, in ns; the real clock is back afterwards."""
    assert speedups is not None
    now = [0]
    speedups.configure_ids(lambda: now[0], _ids._random_tail, _ids._utc_second)

    def set_time(ns: int) -> None:
        now[0] = ns

    yield set_time
    speedups.configure_ids(_ids.time_ns, _ids._random_tail, _ids._utc_second)


def _pure_ids(ns: int) -> tuple[str, str]:
    """What _ids.py_new_ids makes at ns (its uuid's counter and tail aside)."""
    _ids._current = (-1, "", "", "")
    original = _ids.time_ns
    try:
        _ids.time_ns = lambda: ns  # type: ignore[attr-defined]
        return _ids.py_new_ids()
    finally:
        _ids.time_ns = original  # type: ignore[attr-defined]


@needs_compiled
@given(ns=st.integers(min_value=0, max_value=2**62))  # to the year 2116
@example(ns=1_800_000_000_999_999_999)
@example(ns=0)
def test_compiled_ids_have_the_pure_ids_time_and_form(ns):
    assert speedups is not None
    speedups.configure_ids(lambda: ns, _ids._random_tail, _ids._utc_second)
    try:
        uuid, stamp = speedups.new_ids()
    finally:
        speedups.configure_ids(_ids.time_ns, _ids._random_tail, _ids._utc_second)
    pure_uuid, pure_stamp = _pure_ids(ns)
    assert stamp == pure_stamp
    assert uuid[:15] == pure_uuid[:15]  # the millisecond and the version
    assert re.fullmatch(r"[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid[15:])


@needs_compiled
def test_ids_of_one_millisecond_share_a_tail_and_count_up(clock):
    assert speedups is not None
    clock(1_800_000_000_123_000_000)
    first, second = speedups.new_ids()[0], speedups.new_ids()[0]
    assert first[18:] == second[18:]
    assert int(second[15:18], 16) == (int(first[15:18], 16) + 1) % 4096
    clock(1_800_000_000_124_000_000)
    assert speedups.new_ids()[0][18:] != first[18:]  # a new millisecond draws a new tail


@needs_compiled
def test_more_ids_in_one_millisecond_than_the_counter_holds_are_all_different(clock):
    assert speedups is not None
    clock(1_800_000_000_123_000_000)
    made = [speedups.new_ids()[0] for _ in range(3 * 4096 + 5)]
    assert len(set(made)) == len(made)
    assert {uuid[:13] for uuid in made} == {made[0][:13]}  # all in that one millisecond


@needs_compiled
def test_reseed_draws_a_new_tail_within_the_same_millisecond(clock):
    assert speedups is not None
    clock(1_800_000_000_123_000_000)
    before = speedups.new_ids()[0]
    _ids.reseed()
    assert speedups.new_ids()[0][18:] != before[18:]


@needs_compiled
def test_ids_made_by_many_threads_at_once_are_all_different():
    assert speedups is not None
    made: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(speedups.new_ids()[0] for _ in range(20_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = list(itertools.chain.from_iterable(made))
    assert len(set(every)) == len(every)


@needs_compiled
def test_a_failing_clock_is_an_exception_not_a_crash(clock):
    assert speedups is not None

    def broken() -> int:
        raise OSError("no clock")

    speedups.configure_ids(broken, _ids._random_tail, _ids._utc_second)
    with pytest.raises(OSError, match="no clock"):
        speedups.new_ids()
    encode = _capture.capture_encoder(Encoder())
    with pytest.raises(OSError, match="no clock"):
        encode("u", "e", {"a": 1}, None, None, None)


@needs_compiled
@pytest.mark.parametrize("tail", ["short", "-8xxx-" + "é" * 12, 5])
def test_a_random_tail_of_the_wrong_form_is_refused(tail):
    assert speedups is not None
    speedups.configure_ids(lambda: 10**18, lambda: tail, _ids._utc_second)
    try:
        with pytest.raises(ValueError, match="random_tail"):
            speedups.new_ids()
    finally:
        speedups.configure_ids(_ids.time_ns, _ids._random_tail, _ids._utc_second)


def _encoders() -> list[Encoder]:
    encoders = [Encoder(speedups=False)]
    if Encoder(speedups=True).uses_orjson:
        encoders.append(Encoder(speedups=True))
    return encoders


def _without_ids(data: bytes) -> bytes:
    return UUID_AND_STAMP.sub(b"", data)


@needs_compiled
@given(
    distinct_id=st.text(min_size=1, max_size=30),
    event=st.text(min_size=1, max_size=30),
    value=st.text(max_size=30),
)
@example(distinct_id='"\\\b\f\n\r\t\x00\x1f\x7f\u2028', event="é☕", value="\x01")
def test_the_compiled_form_writes_the_pure_forms_bytes(distinct_id, event, value):
    for encoder in _encoders():
        pure = _capture.capture_encoder(encoder, compiled=False)
        compiled = _capture.capture_encoder(encoder)
        for properties in (None, {}, {"k": value}):
            try:
                expected = pure(distinct_id, event, properties, None, None, None)[1]
            except _message.InvalidInput:
                with pytest.raises(_message.InvalidInput):
                    compiled(distinct_id, event, properties, None, None, None)
                continue
            made = compiled(distinct_id, event, properties, None, None, None)[1]
            assert _without_ids(made) == _without_ids(expected)


@needs_compiled
@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((5, "e", None, None, None, None), "an int id"),
        (("u", "e", {"a": 1}, {"company": "acme"}, None, None), "groups"),
        (("u", "e", {"a": 1}, None, "2026-01-02T03:04:05Z", None), "a timestamp"),
        (("u", "e", None, None, None, "0190a0f1-0000-7000-8000-000000000000"), "a uuid"),
        (("u", "e", {"$lib": "mine"}, None, None, None), "the library's own key"),
        (("u", "e", [("a", 1)], None, None, None), "properties as pairs"),
    ],
)
def test_what_the_compiled_form_does_not_write_goes_to_the_general_path(args, why):
    calls: list[tuple[Any, ...]] = []

    def general(*args: Any) -> tuple[str, bytes]:
        calls.append(args)
        return "uuid", b"{}"

    assert speedups is not None
    encoder = Encoder()
    dumps, default, option, chunks = encoder.parts()
    compiled = speedups.CaptureEncoder(
        general, dumps, default, option, chunks, b"}}", b"{}}", 200, 10
    )
    assert compiled.encode(*args) == ("uuid", b"{}"), why
    assert calls == [args]


@needs_compiled
@pytest.mark.parametrize("encoder", _encoders(), ids=lambda e: ["stdlib", "orjson"][e.uses_orjson])
def test_encoding_leaves_no_reference_or_memory_behind(encoder):
    # A reference counting mistake in C shows as a count or traced memory that grows with
    # each call; every message made here is dropped at once.
    encode = _capture.capture_encoder(encoder)
    distinct_id, event = "usér 1", "signup"  # not ASCII: its UTF-8 is a temporary copy
    properties = {"plan": "pro", "seats": 3, "nested": {"a": [1, 2.5]}}
    for _ in range(10):  # the first calls keep the event name, and build the strict encoder
        encode(distinct_id, event, properties, None, None, None)
        encode(distinct_id, "lone \ud800", properties, None, None, None)
    kept_name = encode.__self__.known_events[event]  # type: ignore[attr-defined]
    watched = (distinct_id, event, properties, encoder, kept_name)
    counts = [sys.getrefcount(x) for x in watched]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            encode(distinct_id, event, properties, None, None, None)
            encode(distinct_id, event, None, None, None, None)
            encode(distinct_id, "lone \ud800", properties, None, None, None)  # the general path
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(x) for x in watched] == counts
    # Any object leaked per call takes 16 bytes or more: 6,000 calls would grow by 96,000.
    # What stays is the allocators' and the interpreter's own bookkeeping.
    assert grown < 48_000


def _nested(depth: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(depth):
        value = [value]
    return value


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
# Prices, ratios, durations: the floats the compiled form writes without repr's own call.
short_decimals = st.integers(-(10**12), 10**12).flatmap(
    lambda n: st.integers(0, 9).map(lambda k: n / 10**k)
)


@needs_compiled
@given(properties=st.dictionaries(st.text(max_size=8), plain_values, min_size=1, max_size=6))
@example(properties={"surrogate": "a\ud800", "deep": _nested(40)})
@example(properties={"big": 2**64, "small": -(2**63), "nan": float("nan"), 1: "int key"})
def test_properties_are_written_as_the_json_package_writes_them(properties):
    # The compiled form writes plain values itself and hands the rest to the encoders; with
    # the json package's encoder both forms must write the very same bytes.
    encoder = Encoder(speedups=False)
    pure = _capture.capture_encoder(encoder, compiled=False)
    compiled = _capture.capture_encoder(encoder)
    expected = pure("u", "e", properties, None, None, None)[1]
    assert _without_ids(compiled("u", "e", properties, None, None, None)[1]) == _without_ids(
        expected
    )


@needs_compiled
@given(number=short_decimals | st.floats(allow_nan=False, allow_infinity=False))
@example(number=-0.0)
@example(number=1e-4)
@example(number=0.1 + 0.2)
@example(number=999999999999999.9)
def test_floats_are_written_as_repr_writes_them(number):
    encode = _capture.capture_encoder(Encoder(speedups=False))
    data = encode("u", "e", {"x": number}, None, None, None)[1]
    assert f'"properties":{{"x":{number!r},'.encode() in data
