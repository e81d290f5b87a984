"""The msgspec fast path reaches the same messages as the slow path, or steps aside.

The slow path (validation.py) defines what is valid; fastpath.py must either return exactly
what it would store, or None so that the slow path answers. Hypothesis draws batches around
every rule's edges; a batch the SDK sends must take the fast path.
"""

from __future__ import annotations

import json
import uuid as uuid_module
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from oakdata_server.fastpath import SAFE_RAW_MESSAGE_BYTES, fast_validate
from oakdata_server.validation import (
    MAX_ID_CHARS,
    ValidMessage,
    format_timestamp,
    parse_envelope,
    parse_json,
    validate_batch,
)

RECEIVED = datetime(2026, 11, 28, 21, 31, 24, 500000, tzinfo=timezone.utc)


def _slow(body: bytes) -> list[tuple[int, ValidMessage]] | None:
    """The slow path's valid messages when it rejects none; None when it rejects any."""
    try:
        batch, sent_at = parse_envelope(parse_json(body), 1000)
    except Exception:
        return None
    valid, rejected = validate_batch(batch, sent_at, RECEIVED)
    return None if rejected else valid


def _comparable(messages: list[tuple[int, ValidMessage]]) -> list[dict[str, Any]]:
    # The stored JSON text may be spelled differently (1e16 or 1e+16); its value may not.
    rows = []
    for index, message in messages:
        row = msgspec.structs.asdict(message)
        row["properties_json"] = json.loads(row["properties_json"])
        rows.append({"index": index, **row})
    return rows


def _assert_same(body: bytes, public: bool = False) -> list[ValidMessage] | None:
    fast = fast_validate(body, 1000, public, RECEIVED)
    if fast is not None:
        slow = _slow(body)
        assert slow is not None, "the fast path accepted what the slow path rejects"
        assert _comparable(list(enumerate(fast))) == _comparable(slow)
    return fast


# Mostly valid, so that most batches are all valid and the fast path answers them.
identifiers = st.one_of(
    st.text(min_size=1, max_size=5),
    st.text(min_size=1, max_size=5),
    st.text(min_size=1, max_size=5),
    st.sampled_from(["", "x" * 200, "x" * 201]),
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.sampled_from([-(2**63) - 1, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(format_timestamp),
    st.datetimes(timezones=st.just(timezone.utc)).map(format_timestamp),
    st.datetimes(timezones=st.just(timezone.utc)).map(format_timestamp),
    st.just(format_timestamp(RECEIVED + timedelta(seconds=11))),  # past the future bound
    st.just("2026-11-28T23:31:24.1234567+02:00"),
    st.just("2026-13-28T21:31:24.123456Z"),
    st.just("not a time"),
)


REQUIRED = {
    "capture": ("distinct_id", "event"),
    "identify": ("distinct_id",),
    "alias": ("distinct_id", "alias"),
    "group_identify": ("group_type", "group_key"),
}


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*REQUIRED, "x"]))
    message: dict[str, Any] = {
        "type": kind,
        "uuid": draw(
            st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.just("NOT-A-UUID")
        ),
        "timestamp": draw(timestamps),
    }
    for name in ("distinct_id", "event", "alias", "group_type", "group_key"):
        if draw(st.integers(0, 9)) < (9 if name in REQUIRED.get(kind, ()) else 1):
            message[name] = draw(identifiers)
    if draw(st.booleans()):
        properties = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
        if draw(st.integers(0, 3)) == 0:
            properties["$anon_distinct_id"] = draw(identifiers | st.integers())
        if draw(st.integers(0, 3)) == 0:
            # Person operators: the fast path must step aside (or store the same changes).
            operator = draw(st.sampled_from(["$set", "$set_once", "$unset"]))
            properties[operator] = draw(
                st.dictionaries(st.text(max_size=3), json_leaves, max_size=2)
                | st.lists(st.text(max_size=3), max_size=2)
                | st.none()
            )
        message["properties"] = properties
    if draw(st.booleans()):
        message["groups"] = draw(st.dictionaries(identifiers, identifiers, max_size=3))
    return message


@settings(max_examples=400, deadline=None)
@given(
    batch=st.lists(messages(), max_size=3),
    sent_at=st.none() | timestamps,
    public=st.booleans(),
)
def test_the_fast_path_stores_what_the_slow_path_would(
    batch: list[dict[str, Any]], sent_at: str | None, public: bool
) -> None:
    envelope: dict[str, Any] = {"batch": batch}
    if sent_at is not None:
        envelope["sent_at"] = sent_at
    _assert_same(json.dumps(envelope).encode(), public)


def _sdk_capture(index: int) -> dict[str, Any]:
    return {
        "type": "capture",
        "uuid": str(uuid_module.uuid4()),
        "timestamp": format_timestamp(RECEIVED - timedelta(seconds=index)),
        "event": "page_viewed",
        "distinct_id": f"user-{index}",
        "groups": {"company": "acme"},
        "properties": {"$lib": "oakdata-python", "path": "/a", "n": index, "ok": True},
    }


def test_what_the_sdk_sends_takes_the_fast_path() -> None:
    batch = [_sdk_capture(i) for i in range(999)]
    batch.append(
        {
            "type": "identify",
            "uuid": str(uuid_module.uuid4()),
            "distinct_id": "u",
            "timestamp": format_timestamp(RECEIVED),
            "properties": {"$anon_distinct_id": "a"},
        }
    )
    body = json.dumps({"batch": batch, "sent_at": format_timestamp(RECEIVED)}).encode()
    fast = _assert_same(body)
    assert fast is not None
    assert len(fast) == 1000
    identify = fast[-1]
    assert identify.person_set == {}  # $anon_distinct_id is no trait


def test_an_identify_without_operators_sets_its_plain_properties() -> None:
    message = {
        "type": "identify",
        "uuid": str(uuid_module.uuid4()),
        "distinct_id": "u",
        "timestamp": format_timestamp(RECEIVED),
        "properties": {"plan": "pro", "seats": 3},
    }
    fast = _assert_same(json.dumps({"batch": [message]}).encode())
    assert fast is not None
    assert fast[0].person_set == {"plan": "pro", "seats": 3}


def test_odd_input_is_left_to_the_slow_path() -> None:
    good = _sdk_capture(0)
    odd_bodies = [
        b'{"batch":[],"sent_at":null}',  # null sent_at: 422 on the slow path
        b'{"batch":[],"extra":"\xff"}',  # msgspec would skip the bad UTF-8 unchecked
        json.dumps({"batch": [{**good, "unknown": 1}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"a": "\ud800"}}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"big": 2**64}}]}).encode(),
        b'{"batch":[{"type":"capture","properties":{"f":1e400}}]}',
        json.dumps(
            {"batch": [{**good, "properties": {"a": "x" * SAFE_RAW_MESSAGE_BYTES}}]}
        ).encode(),
        json.dumps({"batch": [{**good, "properties": {"d": _nested(64)}}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"d": {"big": 2**64}}}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"d": ["[", 2**64]}}]}).encode(),
        # Two values in one, as a batch's values are checked together.
        json.dumps({"batch": [{**good, "uuid": f"{good['uuid']}\n{good['uuid']}"}]}).encode(),
        json.dumps(
            {"batch": [{**good, "timestamp": f"{good['timestamp']}\n{good['timestamp']}"}]}
        ).encode(),
        # Times of day out of range, and an impossible date between a batch's first and
        # last ones.
        *[
            json.dumps({"batch": [{**good, "timestamp": f"2026-11-28T{time}.000000Z"}]}).encode()
            for time in ("24:00:00", "23:60:00", "23:59:60")
        ],
        json.dumps(
            {
                "batch": [
                    {**good, "timestamp": f"2026-{day}T12:00:00.000000Z"}
                    for day in ("02-28", "02-30", "03-01")
                ]
            }
        ).encode(),
        # Identifiers out of bounds are rejected there, by index.
        *[
            json.dumps({"batch": [good, {**good, field: value}]}).encode()
            for field in ("distinct_id", "event")
            for value in ("", "x" * (MAX_ID_CHARS + 1))
        ],
        # Person operators are judged by validation.py alone.
        json.dumps({"batch": [{**good, "properties": {"$set": {"plan": "pro"}}}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"$set_once": {"a": 1}}}]}).encode(),
        json.dumps({"batch": [{**good, "properties": {"$unset": ["plan"]}}]}).encode(),
    ]
    for body in odd_bodies:
        assert fast_validate(body, 1000, False, RECEIVED) is None, body[:60]
    group = {**good, "type": "group_identify", "group_type": "c", "group_key": "k"}
    assert fast_validate(json.dumps({"batch": [group]}).encode(), 1000, True, RECEIVED) is None
    assert fast_validate(json.dumps({"batch": [good] * 3}).encode(), 2, False, RECEIVED) is None


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value
