"""mypy --strict types both forms of capture() in a user's program (the overloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._support import mypy_strict

# An ignore that mypy --strict finds unused is itself an error (warn_unused_ignores), so
# each ignored line below must fail to type check for the program to pass.
USER_PROGRAM = """
from oakdata import AsyncOakClient, OakClient, context

oak = OakClient("oak_sec_x")
a: str | None = oak.capture("user_42", "plan_upgraded", {"plan": "pro"})
b: str | None = oak.capture(event="plan_upgraded", properties={"plan": "pro"})
c: str | None = oak.capture(42, "e", groups={"company": "acme"}, uuid=None)
d: str | None = oak.identify(properties={"email": "ada@example.com"})
oak.capture("plan_upgraded")  # type: ignore[call-overload]
oak.capture(None, "plan_upgraded")  # type: ignore[call-overload]
oak.capture(distinct_id="user_42")  # type: ignore[call-overload]
AsyncOakClient("oak_sec_x").capture(event="e")


@context(distinct_id="job", properties={"job": "nightly"})
def job(n: int) -> str:
    return str(n)


@context(properties={"via": "async"})
async def handler(n: int) -> int:
    return n


async def main() -> None:
    with context("user_42", {"request_id": "r-17"}):
        text: str = job(1)
        number: int = await handler(2)
        job("1")  # type: ignore[arg-type]
"""


def test_mypy_strict_types_both_capture_forms_and_the_decorator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, status = mypy_strict(USER_PROGRAM, tmp_path, monkeypatch)
    assert status == 0, output
