"""mypy --strict checks what a user's program passes to the four calls, on both clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._support import mypy_strict

CLEAN_PROGRAM = """
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from oakdata import AsyncOakClient, OakClient
from oakdata.types import JSONValue, Properties

traits: Properties = {
    "email": "ada@example.com",
    "signed_up": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    "born": dt.date(1815, 12, 10),
    "mrr": Decimal("49.00"),
    "tags": ["beta", 2, None],
    "address": {"city": "London", "lines": ("12 St James's Sq",)},
    "seen": {"web", "ios"},
}
anything: dict[str, Any] = {"model": object()}  # what no type names: annotate it as Any
value: JSONValue = {"nested": [1, 2.5, True]}
when = dt.datetime.now(dt.timezone.utc)

for oak in (OakClient("oak_sec_x"), AsyncOakClient("oak_sec_x")):
    oak.capture("user_42", "plan_upgraded", traits, groups={"company": "acme", "team": 7},
                timestamp=when, uuid=uuid.uuid4())
    oak.capture(event="e", properties={"$set": {"plan": "pro"}}, timestamp="2026-01-01T00:00:00Z")
    oak.identify("user_42", traits, set_once={"first_seen": when}, unset=["trial"],
                 timestamp=when, uuid="0193c7a2-5b1e-7c3d-9a4f-2e8b6d1c0f3a")
    oak.identify(properties=anything, unset=("a", "b"))
    oak.alias("user_42", 42, timestamp=when, uuid=uuid.uuid4())
    oak.group_identify("company", "acme", {"seats": value}, timestamp=when)
"""

WRONG_CALLS = {
    "a list as properties": 'oak.capture("user_42", "e", ["plan", "pro"])',
    "a list as identify's properties": 'oak.identify("user_42", [("plan", "pro")])',
    "a str as unset": 'oak.identify("user_42", unset="trial")',
    "a number as timestamp": 'oak.alias("a", "b", timestamp=1700000000)',
    "a list as groups": 'oak.capture("user_42", "e", groups=["acme"])',
    "an int as uuid": 'oak.group_identify("company", "acme", uuid=42)',
}


def test_a_program_passing_json_like_values_type_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, status = mypy_strict(CLEAN_PROGRAM, tmp_path, monkeypatch)
    assert status == 0, output


def test_mypy_reports_each_wrong_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = "\n".join(f"{call}  # {name}" for name, call in WRONG_CALLS.items())
    program = f"from oakdata import OakClient\n\noak = OakClient('oak_sec_x')\n{calls}\n"
    output, status = mypy_strict(program, tmp_path, monkeypatch)
    assert status == 1, output
    # One error on each line, the line of each wrong call (lines 4 onwards).
    lines = {int(line.split(":")[1]) for line in output.splitlines() if ": error:" in line}
    assert lines == set(range(4, 4 + len(WRONG_CALLS))), output
