"""No input makes a public call raise, and the events after it still flow."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid as uuidlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from httpbed import HttpBed

from ._support import WAIT_SECONDS, assert_consistent


class Weird:
    """Hostile to every conversion: comparisons, repr, iteration, len and hashing all fail."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __iter__(self):
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = object.__hash__


class BadMapping(dict):
    def items(self):
        raise RuntimeError("items")

    def keys(self):
        raise RuntimeError("keys")

    def __iter__(self):
        raise RuntimeError("iter")


ordinary_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
    st.binary(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.dates(),
    st.times(),
    st.decimals(allow_nan=True),
    st.uuids(),
    st.builds(object),
    st.builds(Weird),
    st.just(math.nan),
    st.just(float("inf")),
    st.just(decimal.Decimal("sNaN")),
    st.just(type),
    st.just(len),
    st.just(...),
)
# A mapping that refuses to be read has no form at all: dropping its event is fair.
scalars = st.one_of(ordinary_scalars, st.just(BadMapping(a=1)))
keys = st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans(), st.uuids())


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.tuples(children, children),
            st.frozensets(st.integers(), max_size=3),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=12,
    )


values = _nested(scalars)
ordinary_values = _nested(ordinary_scalars)
timestamps = st.one_of(values, st.datetimes(), st.datetimes(timezones=st.timezones()), st.text())
uuids = st.one_of(values, st.uuids().map(str), st.uuids())

hypothesis_settings = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fast_client(make_client):
    return make_client(flush_at=50)


def _still_delivers(bed: HttpBed, oak) -> None:
    """After all that, an ordinary event is still delivered and the counts still add up."""
    oak.flush(timeout=WAIT_SECONDS)  # False if any of the above was dropped: it says so
    marker = oak.capture("after", "still-flowing", {"ok": True})
    assert marker is not None
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert marker in bed.uuids()
    assert_consistent(oak.stats())


def test_capture_never_raises_whatever_it_is_given(bed: HttpBed, fast_client):
    @hypothesis_settings
    @given(values, values, values, values, timestamps, uuids)
    def run(distinct_id, event, properties, groups, timestamp, uuid) -> None:
        result = fast_client.capture(
            distinct_id, event, properties, groups=groups, timestamp=timestamp, uuid=uuid
        )
        assert result is None or isinstance(result, str)

    run()
    _still_delivers(bed, fast_client)


def test_capture_with_valid_ids_never_raises_whatever_the_properties(bed: HttpBed, fast_client):
    @hypothesis_settings
    @given(st.dictionaries(keys, ordinary_values, max_size=6))
    def run(properties: dict[Any, Any]) -> None:
        result = fast_client.capture("user", "event", properties)
        assert result is not None  # convertible or repr'd: never dropped for its values

    run()
    _still_delivers(bed, fast_client)


def test_identify_never_raises_whatever_it_is_given(bed: HttpBed, fast_client):
    @hypothesis_settings
    @given(values, values)
    def run(distinct_id, properties) -> None:
        result = fast_client.identify(distinct_id, properties)
        assert result is None or isinstance(result, str)

    run()
    _still_delivers(bed, fast_client)


def test_alias_never_raises_whatever_it_is_given(bed: HttpBed, fast_client):
    @hypothesis_settings
    @given(values, values)
    def run(distinct_id, alias) -> None:
        result = fast_client.alias(distinct_id, alias)
        assert result is None or isinstance(result, str)

    run()
    _still_delivers(bed, fast_client)


def test_group_identify_never_raises_whatever_it_is_given(bed: HttpBed, fast_client):
    @hypothesis_settings
    @given(values, values, values)
    def run(group_type, group_key, properties) -> None:
        result = fast_client.group_identify(group_type, group_key, properties)
        assert result is None or isinstance(result, str)

    run()
    _still_delivers(bed, fast_client)


def test_flush_and_shutdown_never_raise_whatever_timeout_they_are_given(bed: HttpBed, make_client):
    @hypothesis_settings
    @given(st.one_of(st.none(), st.floats(max_value=0.05), st.integers(-5, 0), values))
    def run(timeout) -> None:
        oak = make_client()
        oak.capture("u", "e")
        assert isinstance(oak.flush(timeout), bool)
        assert isinstance(oak.shutdown(timeout), bool)
        assert isinstance(oak.shutdown(timeout), bool)

    run()


def test_a_deeply_nested_value_neither_raises_nor_stops_delivery(bed: HttpBed, fast_client):
    deep: Any = "bottom"
    for _ in range(5000):
        deep = [deep]
    fast_client.capture("u", "deep", {"v": deep})
    deep_dict: Any = {}
    node = deep_dict
    for _ in range(5000):
        node["n"] = {}
        node = node["n"]
    fast_client.capture("u", "deep-dict", deep_dict)
    _still_delivers(bed, fast_client)


def test_keyword_misuse_of_timestamp_and_uuid_types_never_raises(bed: HttpBed, fast_client):
    for timestamp in (dt.date(2026, 1, 1), 1_700_000_000, b"2026", [], dt.time(1, 2)):
        fast_client.capture("u", "e", timestamp=timestamp)
    for uuid in (uuidlib.uuid4(), 12345, b"x" * 16, "", "0" * 36):
        fast_client.capture("u", "e", uuid=uuid)
    _still_delivers(bed, fast_client)
