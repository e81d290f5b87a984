"""Values with an obvious JSON form are converted; anything else is sent as its repr."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import logging
import math
import uuid as uuidlib
from typing import Any

import numpy as np
import pydantic
import pytest

from httpbed import HttpBed

from ._support import WAIT_SECONDS, dropped_only


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Plan(pydantic.BaseModel):
    name: str
    seats: int
    renews: dt.date


def _sent_value(bed: HttpBed, oak, value: Any) -> Any:
    assert oak.capture("u", "e", {"v": value}) is not None
    assert oak.flush(timeout=WAIT_SECONDS) is True
    return bed.messages[-1]["properties"]["v"]


def test_an_aware_datetime_is_sent_as_an_iso_string_of_the_same_instant(bed: HttpBed, oak):
    value = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    sent = _sent_value(bed, oak, value)
    assert isinstance(sent, str)
    assert dt.datetime.fromisoformat(sent.replace("Z", "+00:00")) == value


def test_a_date_is_sent_as_its_iso_form(bed: HttpBed, oak):
    assert _sent_value(bed, oak, dt.date(2026, 3, 4)) == "2026-03-04"


def test_a_time_is_sent_as_its_iso_form(bed: HttpBed, oak):
    assert _sent_value(bed, oak, dt.time(5, 6, 7)) == "05:06:07"


def test_a_decimal_is_sent_as_a_number(bed: HttpBed, oak):
    sent = _sent_value(bed, oak, decimal.Decimal("49.95"))
    assert isinstance(sent, int | float)
    assert sent == pytest.approx(49.95)


def test_a_uuid_is_sent_as_its_canonical_string(bed: HttpBed, oak):
    value = uuidlib.UUID("12345678-1234-5678-1234-567812345678")
    assert _sent_value(bed, oak, value) == "12345678-1234-5678-1234-567812345678"


def test_an_enum_is_sent_as_its_value(bed: HttpBed, oak):
    assert _sent_value(bed, oak, [Color.RED, Color.BLUE]) == ["red", 2]


def test_a_set_is_sent_as_a_list_of_its_members(bed: HttpBed, oak):
    sent = _sent_value(bed, oak, {3, 1, 2})
    assert sorted(sent) == [1, 2, 3]


def test_a_tuple_is_sent_as_a_list(bed: HttpBed, oak):
    assert _sent_value(bed, oak, (1, "a", None)) == [1, "a", None]


def test_utf8_bytes_are_sent_as_text(bed: HttpBed, oak):
    assert _sent_value(bed, oak, "héllo".encode()) == "héllo"


def test_binary_bytes_are_sent_as_a_string(bed: HttpBed, oak):
    sent = _sent_value(bed, oak, b"\xff\x00\xfe")
    assert isinstance(sent, str)


def test_a_dataclass_is_sent_as_an_object_of_its_fields(bed: HttpBed, oak):
    assert _sent_value(bed, oak, Point(1, 2.5)) == {"x": 1, "y": 2.5}


def test_a_pydantic_model_is_sent_as_its_json_form(bed: HttpBed, oak):
    sent = _sent_value(bed, oak, Plan(name="pro", seats=3, renews=dt.date(2026, 1, 1)))
    assert sent == {"name": "pro", "seats": 3, "renews": "2026-01-01"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(5), 5),
        (np.int8(-3), -3),
        (np.float32(1.5), 1.5),
        (np.float64(2.25), 2.25),
        (np.bool_(True), True),
    ],
    ids=["int64", "int8", "float32", "float64", "bool"],
)
def test_a_numpy_scalar_is_sent_as_a_plain_number(bed: HttpBed, oak, value, expected):
    sent = _sent_value(bed, oak, value)
    assert sent == expected
    assert type(sent) is type(expected)


def test_a_numpy_array_is_sent_as_nested_lists(bed: HttpBed, oak):
    assert _sent_value(bed, oak, np.arange(6).reshape(2, 3)) == [[0, 1, 2], [3, 4, 5]]


def test_a_numpy_nan_is_sent_as_null(bed: HttpBed, oak):
    assert _sent_value(bed, oak, np.array([1.0, np.nan])) == [1.0, None]


def test_non_string_keys_are_sent_as_strings(bed: HttpBed, oak):
    key = uuidlib.UUID("12345678-1234-5678-1234-567812345678")
    sent = _sent_value(bed, oak, {1: "a", key: "b", 2.5: "c"})
    assert sent == {"1": "a", str(key): "b", "2.5": "c"}


def test_non_string_keys_at_the_top_of_properties_are_sent_as_strings(bed: HttpBed, oak):
    oak.capture("u", "e", {1: "one", "two": 2})
    oak.flush(timeout=WAIT_SECONDS)
    properties = bed.messages[0]["properties"]
    assert properties["1"] == "one"
    assert properties["two"] == 2


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_sent_as_null(bed: HttpBed, oak, value: float):
    assert _sent_value(bed, oak, {"x": value, "list": [value, 1]}) == {"x": None, "list": [None, 1]}


def test_a_cyclic_dict_is_sent_without_the_cycle(bed: HttpBed, oak):
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    sent = _sent_value(bed, oak, value)
    assert sent["a"] == 1
    assert sent["self"] != value  # the cycle was cut somewhere, not followed forever


def test_a_cyclic_list_is_sent_without_the_cycle(bed: HttpBed, oak):
    value: list[Any] = [1]
    value.append(value)
    sent = _sent_value(bed, oak, value)
    assert sent[0] == 1
    assert isinstance(sent, list)


def test_a_shared_but_acyclic_value_is_sent_in_full_each_time(bed: HttpBed, oak):
    shared = {"k": 1}
    assert _sent_value(bed, oak, [shared, shared]) == [{"k": 1}, {"k": 1}]


class Unserializable:
    def __repr__(self) -> str:
        return "Unserializable(Private-Value-5521)"


def test_an_unserializable_value_is_sent_as_its_repr(bed: HttpBed, oak):
    assert _sent_value(bed, oak, Unserializable()) == "Unserializable(Private-Value-5521)"


def test_an_unserializable_value_warns_once_without_its_value(
    bed: HttpBed, oak, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="oakdata")
    for _ in range(5):
        oak.capture("u", "e", {"v": Unserializable()})
    oak.flush(timeout=WAIT_SECONDS)
    warnings = [
        r for r in caplog.records if r.name.startswith("oakdata") and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "Unserializable" in warnings[0].getMessage()
    for record in caplog.records:
        assert "Private-Value-5521" not in record.getMessage()
    assert len(bed.messages) == 5


def test_a_value_whose_repr_raises_does_not_stop_the_event(bed: HttpBed, oak):
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    sent = _sent_value(bed, oak, Hostile())
    assert isinstance(sent, str)
    dropped_only(oak.stats())


def test_lone_surrogates_in_strings_do_not_stop_the_event(bed: HttpBed, oak):
    sent = _sent_value(bed, oak, "a\ud800b")
    assert isinstance(sent, str)
    assert sent.startswith("a")


def test_non_ascii_text_arrives_intact(bed: HttpBed, oak):
    assert _sent_value(bed, oak, "日本語 ✓ émoji 🎉") == "日本語 ✓ émoji 🎉"
