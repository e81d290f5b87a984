"""capture()'s text-spliced fast form writes the same JSON value as the general way."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oakdata import _capture, _message
from oakdata._encoding import Encoder

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


PROPERTIES: dict[str, Any] = {
    "none": None,
    "empty": {},
    "the bench event": {
        "plan": "pro",
        "seats": 3,
        "price": 49.75,
        "trial": True,
        "company": {"name": "Acme 1", "country": "FR", "size": 120},
        "features": ["export", "sso", "audit-log"],
    },
    "quotes, backslashes and control characters": {'k"\\\n': 'v"\\\t\x00\u2028'},
    "non-ascii": {"clé": "café ☕", "日本": ["語"]},
    "values converted by the default hook": {"when": dt.date(2026, 1, 2), "set": {1}},
    "non-str keys": {1: "a", None: "b", 2.5: "c"},
    "an int beyond 64 bits": {"big": 2**70},
    "nan": {"x": float("nan")},
    "a lone surrogate": {"x": "a\ud800"},
    "a cycle": {"loop": _cyclic()},
    "the library's own keys": {"$lib": "mine", "$lib_version": "0"},
    "a dict subclass": OrderedDict(a=1),
}

NAMES = ["signup", 'quoted "name"', "ünïcödé", "line\nbreak", "lone \ud800 surrogate"]


@pytest.fixture(params=[False, True], ids=["stdlib", "orjson"])
def encoder(request: pytest.FixtureRequest) -> Encoder:
    if request.param:
        pytest.importorskip("orjson", reason="the speedups extra is not installed")
    return Encoder(use_orjson=request.param)


@pytest.fixture
def encode(encoder: Encoder) -> Callable[..., tuple[str, bytes]]:
    """capture()'s encoding, (distinct_id, event, properties, groups, timestamp, uuid)."""
    return functools.partial(_capture.encode_capture, encoder)


def _known_events() -> list[str]:
    return list(_capture._known_events)


def _general(encoder: Encoder, distinct_id: Any, event: Any, properties: Any) -> dict[str, Any]:
    message = _message.capture(distinct_id, event, properties, None, None, None)
    decoded: dict[str, Any] = json.loads(encoder.encode(message))
    return decoded


def _same_but_ids(fast: dict[str, Any], general: dict[str, Any]) -> None:
    assert UUID7.match(fast.pop("uuid"))
    assert TIMESTAMP.match(fast.pop("timestamp"))
    del general["uuid"], general["timestamp"]
    assert fast == general


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_every_kind_of_properties_gives_the_same_json_value_both_ways(encoder, encode, name):
    properties = PROPERTIES[name]
    uuid, data = encode("user 1", "signup", properties, None, None, None)
    fast = json.loads(data)
    assert fast["uuid"] == uuid
    _same_but_ids(fast, _general(encoder, "user 1", "signup", properties))


@pytest.mark.parametrize("properties", [None, {"a": 1}], ids=["no properties", "properties"])
@pytest.mark.parametrize("name", NAMES)
def test_every_kind_of_name_gives_the_same_json_value_both_ways(encoder, encode, name, properties):
    _, data = encode(name, name, properties, None, None, None)
    _same_but_ids(json.loads(data), _general(encoder, name, name, properties))


def test_the_common_case_is_written_without_building_the_message(encode, monkeypatch):
    def no_general_way(*args: Any) -> None:
        raise AssertionError("the general way was taken")

    monkeypatch.setattr(_message, "capture", no_general_way)
    properties = PROPERTIES["the bench event"]
    _, data = encode("user 1", "signup", properties, None, None, None)
    assert json.loads(data)["properties"]["$lib"] == _message.LIB_NAME
    assert "$lib" not in properties


def test_a_known_event_name_is_written_as_when_it_was_first_checked(encoder, encode, monkeypatch):
    monkeypatch.setattr(_capture, "_known_events", {})
    for name in NAMES:
        for _ in range(2):
            _, data = encode("u", name, {"a": 1}, None, None, None)
            _same_but_ids(json.loads(data), _general(encoder, "u", name, {"a": 1}))
    # All but the lone surrogate, which no UTF-8 message can carry as it is.
    assert set(NAMES) - set(_known_events()) <= {"lone \ud800 surrogate"}


@pytest.mark.parametrize("event", [["unhashable"], " \t", "", "x" * 201], ids=repr)
def test_an_invalid_event_name_is_invalid_input_every_time(encode, monkeypatch, event):
    monkeypatch.setattr(_capture, "_known_events", {})
    for _ in range(2):
        with pytest.raises(_message.InvalidInput, match="event"):
            encode("u", event, None, None, None, None)
    assert not _known_events()


def test_the_known_event_names_are_bounded(encode, monkeypatch):
    monkeypatch.setattr(_capture, "_known_events", {})
    monkeypatch.setattr(_capture, "MAX_KNOWN_EVENTS", 3)
    names = [f"event {i}" for i in range(5)]
    for name in names * 2:
        _, data = encode("u", name, None, None, None, None)
        assert json.loads(data)["event"] == name
    assert _known_events() == names[:3]


def test_queued_bytes_hold_no_memory_beyond_their_size(encode):
    # orjson writes into a 4 KiB buffer; a queue of bytes that kept it would hold it all.
    properties = PROPERTIES["the bench event"]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode("u", "e", properties, None, None, None)[1] for _ in range(1000)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Each bytes object costs its length plus a header, and the list a pointer.
    assert grown < sum(map(len, kept)) + len(kept) * 100


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    distinct_id=st.text(min_size=1, max_size=20),
    event=st.text(min_size=1, max_size=20),
    properties=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
)
def test_any_capture_gives_the_same_json_value_both_ways(distinct_id, event, properties):
    for encoder in (Encoder(use_orjson=False), Encoder(use_orjson=True)):
        encode = functools.partial(_capture.encode_capture, encoder)
        try:
            general = _general(encoder, distinct_id, event, properties)
        except _message.InvalidInput:
            with pytest.raises(_message.InvalidInput):
                encode(distinct_id, event, properties, None, None, None)
            continue
        _, data = encode(distinct_id, event, properties, None, None, None)
        _same_but_ids(json.loads(data), general)
