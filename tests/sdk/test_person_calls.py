"""identify's $set, $set_once and $unset, and timestamp and uuid on every call, on the wire."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from typing import Any

import pytest

from httpbed import HttpBed

from ._support import WAIT_SECONDS, Client, dropped_only

GIVEN_UUID = "0193C7A2-5B1E-7C3D-9A4F-2E8B6D1C0F3A"
GIVEN_TIME = dt.datetime(
    2026, 11, 28, 22, 31, 24, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))
)
GIVEN_TIME_ON_THE_WIRE = "2026-11-28T21:31:24.123456Z"


def _sent(bed: HttpBed, oak: Client) -> list[dict[str, Any]]:
    assert oak.flush(timeout=WAIT_SECONDS) is True
    return bed.messages


def test_identify_sends_the_operators_from_properties_and_keywords_merged(
    bed: HttpBed, oak: Client
) -> None:
    oak.identify(
        "user_42",
        {
            "plan": "pro",
            "$set": {"email": "ada@example.com"},
            "$set_once": {"referrer": "ads", "first_plan": "free"},
            "$unset": ["trial"],
        },
        set_once={"first_plan": "pro"},  # a keyword wins over properties on the same name
        unset=("coupon", "trial"),
    )
    (message,) = _sent(bed, oak)
    assert message["properties"] == {
        "plan": "pro",
        "$set": {"email": "ada@example.com"},
        "$set_once": {"referrer": "ads", "first_plan": "pro"},
        "$unset": ["trial", "coupon"],
    }


def test_identify_sends_no_operator_it_was_not_given_anything_for(
    bed: HttpBed, oak: Client
) -> None:
    oak.identify("user_42", {"plan": "pro", "$set": None}, set_once={}, unset=frozenset({"b", "a"}))
    oak.identify("user_43", {"plan": "free"})
    first, second = _sent(bed, oak)
    assert first["properties"] == {"plan": "pro", "$unset": ["a", "b"]}  # a set goes sorted
    assert second["properties"] == {"plan": "free"}


@pytest.mark.parametrize(
    "arguments",
    [
        {"unset": "plan"},  # a bare str is not a list of one-letter names
        {"unset": ["plan", 3]},
        {"set_once": ["plan"]},
        {"set_once": {"$unset": ["plan"]}},
        {"properties": {"$set": "pro"}},
        {"properties": {"$unset": {"plan": 1}}},
        {"properties": {"$set_once": {"$set": 1}}},
    ],
)
def test_a_malformed_operator_drops_the_identify_as_invalid_input(
    oak: Client, arguments: dict[str, Any]
) -> None:
    assert oak.identify("user_42", **arguments) is None
    dropped_only(oak.stats(), invalid_input=1)


def test_capture_passes_set_and_set_once_through_unchanged(bed: HttpBed, oak: Client) -> None:
    person = {"$set": {"plan": "pro"}, "$set_once": {"first_order": 12}}
    oak.capture("user_42", "checkout", {"total": 12, **person})
    (message,) = _sent(bed, oak)
    assert {k: message["properties"][k] for k in person} == person


def _calls(oak: Client, **given: Any) -> None:
    oak.identify("user_42", {"plan": "pro"}, **given)
    oak.alias("user_42", "cust_42", **given)
    oak.group_identify("company", "acme", {"seats": 3}, **given)


@pytest.mark.parametrize(
    ("uuid", "timestamp"),
    [
        (GIVEN_UUID, GIVEN_TIME),
        (uuidlib.UUID(GIVEN_UUID), GIVEN_TIME_ON_THE_WIRE),
    ],
)
def test_identify_alias_and_group_identify_send_the_uuid_and_timestamp_given(
    bed: HttpBed, oak: Client, uuid: object, timestamp: object
) -> None:
    _calls(oak, uuid=uuid, timestamp=timestamp)
    messages = _sent(bed, oak)
    assert [m["type"] for m in messages] == ["identify", "alias", "group_identify"]
    for message in messages:
        assert message["uuid"] == GIVEN_UUID.lower()
        assert message["timestamp"] == GIVEN_TIME_ON_THE_WIRE


def test_each_call_returns_the_uuid_it_was_given(oak: Client) -> None:
    assert oak.alias("a", "b", uuid=GIVEN_UUID) == GIVEN_UUID.lower()


@pytest.mark.parametrize(
    "given",
    [{"uuid": "not-a-uuid"}, {"uuid": 42}, {"timestamp": "yesterday"}, {"timestamp": 1.5}],
)
def test_an_invalid_uuid_or_timestamp_drops_each_call_as_invalid_input(
    oak: Client, given: dict[str, Any]
) -> None:
    _calls(oak, **given)
    dropped_only(oak.stats(), invalid_input=3)
