"""The one private CPython API oakdata uses: _json's C encoder (_encoding.json_c_encoder).

It is kept because it is a third of a capture without orjson (see json_c_encoder). If a
Python changes its signature or what it writes, an app falls back to the public json
encoder, slower but the same bytes; these tests fail instead, so that the change is seen.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from typing import Any

import pytest

from oakdata import _capture, _message
from oakdata._encoding import Encoder, json_c_encoder

pytestmark = pytest.mark.skipif(
    sys.implementation.name != "cpython", reason="_json is CPython's own module"
)

VALUES: dict[str, Any] = {
    "plain": {"plan": "pro", "seats": 3, "price": 49.75, "trial": True, "none": None},
    "nested": {"company": {"name": "Acme", "tags": ["a", "b"]}, "list": [1, [2, [3]]]},
    "escapes": {'k"\\\n': 'v"\\\t\x00\u2028', "é": "☕ 日本"},
    "numbers": {"big": 2**70, "negative": -0.0, "small": 1e-7, "large": 1e16},
    "non-str keys json converts": {1: "int", 2.5: "float", False: "bool", None: "none"},
    "a tuple": {"t": (1, 2)},
}


def _json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def test_the_json_c_encoder_is_there_and_capture_writes_with_it(monkeypatch):
    encode, quote = json_c_encoder(repr)
    assert callable(encode)
    assert callable(quote)
    assert Encoder().quote is quote

    # Without it, capture() would build and encode every message the general way, quietly.
    def no_general_way(*args: Any) -> None:
        raise AssertionError("the general way was taken")

    monkeypatch.setattr(_message, "capture", no_general_way)
    encode_capture = functools.partial(_capture.encode_capture, Encoder(use_orjson=False))
    _, data = encode_capture("u", "e", {"a": 1}, None, None, None)
    assert json.loads(data)["properties"]["a"] == 1


@pytest.mark.parametrize("name", sorted(VALUES))
def test_it_writes_what_json_dumps_writes(name):
    encode, _ = json_c_encoder(repr)
    assert encode is not None
    assert "".join(encode(VALUES[name], 0)) == _json_dumps(VALUES[name])


def test_its_quote_writes_a_str_as_json_dumps_does():
    _, quote = json_c_encoder(repr)
    assert quote is not None
    for text in ["plain", 'quote " and \\ backslash', "\x00\x1f\x7f", "é☕\u2028", "a\ud800"]:
        assert quote(text) == _json_dumps(text)


def test_it_calls_default_for_a_value_it_cannot_write():
    seen: list[Any] = []

    def default(value: Any) -> str:
        seen.append(value)
        return "converted"

    encode, _ = json_c_encoder(default)
    assert encode is not None
    marker = object()
    assert "".join(encode({"x": marker}, 0)) == '{"x":"converted"}'
    assert seen == [marker]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"x": math.nan}, ValueError),  # allow_nan=False: the repair path makes it null
        ({"x": math.inf}, ValueError),
        ({(1, 2): "tuple key"}, TypeError),  # skipkeys=False: the repair path makes it a str
    ],
    ids=["nan", "infinity", "tuple key"],
)
def test_what_the_repair_path_handles_is_refused(value, error):
    encode, _ = json_c_encoder(repr)
    assert encode is not None
    with pytest.raises(error):
        "".join(encode(value, 0))


def test_a_cycle_ends_in_a_recursion_error_without_markers():
    # No markers: the encoder keeps no cycle bookkeeping shared between threads, and a
    # cycle ends in RecursionError, which sends the value down the repair path.
    encode, _ = json_c_encoder(repr)
    assert encode is not None
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(RecursionError):
        "".join(encode(cyclic, 0))
