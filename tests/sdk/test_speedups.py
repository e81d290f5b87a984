"""The optional orjson encoder writes the same JSON values as the standard library's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oakdata._encoding import Encoder

pytest.importorskip("orjson", reason="the speedups extra is not installed in this environment")


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    label: str = dataclasses.field(repr=False, default="p")


PLUS_TWO = dt.timezone(dt.timedelta(hours=2))

VALUES: dict[str, Any] = {
    "aware datetime in another zone": dt.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=PLUS_TWO),
    "naive datetime": dt.datetime(2024, 1, 2, 3, 4, 5),
    "date": dt.date(2024, 1, 2),
    "time with microseconds": dt.time(1, 2, 3, 120000),
    "decimal": decimal.Decimal("1.10"),
    "uuid": uuid.UUID(int=5),
    "enum": Color.RED,
    "set": {3, 1, 2},
    "tuple": (1, 2),
    "utf-8 bytes": b"hi",
    "binary bytes": b"\xff\x00",
    "dataclass": Point(1),
    "int beyond 64 bits": 2**70,
    "nan": float("nan"),
    "negative infinity": float("-inf"),
    "lone surrogate": "a\ud800",
    "large float": 1e16,
    "non-str keys": {1: "a", None: 2},
    "nested": {"a": [1, {"b": (2, 3)}], "c": "ü"},
}


def test_orjson_is_used_when_installed() -> None:
    assert Encoder(use_orjson=True).uses_orjson
    assert not Encoder(use_orjson=False).uses_orjson


@pytest.mark.parametrize("name", sorted(VALUES))
def test_orjson_and_stdlib_encode_the_same_json_value(name: str) -> None:
    message = {"properties": {"value": VALUES[name]}}
    fast = Encoder(use_orjson=True).encode(message)
    plain = Encoder(use_orjson=False).encode(message)
    assert json.loads(fast) == json.loads(plain)


def test_orjson_path_repairs_a_cycle_like_the_stdlib_path() -> None:
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    fast = json.loads(Encoder(use_orjson=True).encode({"p": cyclic}))
    plain = json.loads(Encoder(use_orjson=False).encode({"p": cyclic}))
    assert fast == plain == {"p": {"name": "loop", "self": "<cycle>"}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_like_value_encodes_to_the_same_value_either_way(value: Any) -> None:
    message = {"properties": {"v": value}}
    assert json.loads(Encoder(use_orjson=True).encode(message)) == json.loads(
        Encoder(use_orjson=False).encode(message)
    )
