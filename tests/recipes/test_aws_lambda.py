"""AWS Lambda: the handler is invoked as the runtime invokes it, handler(event, context),
and the events must be at the server when it returns, with nothing waiting in between."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
import uuid
from collections.abc import Iterator
from types import ModuleType

import pytest

from httpbed import Delay, HttpBed
from oakdata import serverless

from .conftest import SECRET_KEY, assert_received_exactly


class LambdaContext:
    """The attributes of the runtime's context object that code reads."""

    def __init__(self, remaining_seconds: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "report-generator"
        self.memory_limit_in_mb = 128
        self._deadline = time.monotonic() + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class StoppedClockContext:
    """A context whose time left does not run down while a test reads it."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def function(bed: HttpBed, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A cold start: the handler module imported afresh, its clients reading the env."""
    monkeypatch.setenv("OAK_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OAK_HOST", bed.url)
    sys.modules.pop("recipe_lambda", None)
    module = importlib.import_module("recipe_lambda")
    try:
        yield module
    finally:
        module.oak.shutdown(timeout=2)
        asyncio.run(module.async_oak.shutdown(timeout=2))
        sys.modules.pop("recipe_lambda", None)


@pytest.mark.parametrize("entry", ["handler", "async_handler"])
def test_events_reach_the_server_before_the_handler_returns(
    bed: HttpBed, function: ModuleType, entry: str
) -> None:
    handler = getattr(function, entry)

    result = handler({"user_id": "user_1", "count": 3}, LambdaContext())

    # No waiting here: the runtime may freeze the container the moment the handler returns.
    assert result["statusCode"] == 200
    assert_received_exactly(bed, result["uuids"])


@pytest.mark.parametrize("entry", ["handler", "async_handler"])
def test_warm_invocations_each_deliver_their_own_events(
    bed: HttpBed, function: ModuleType, entry: str
) -> None:
    handler = getattr(function, entry)
    captured: list[str] = []

    for invocation in range(4):
        result = handler({"user_id": f"user_{invocation}", "count": 2}, LambdaContext())
        captured += result["uuids"]
        assert_received_exactly(bed, captured)


def test_the_sync_handler_reads_the_context_it_is_given(bed: HttpBed, function: ModuleType) -> None:
    context = LambdaContext()

    function.handler({"user_id": "user_1"}, context)

    (message,) = bed.messages
    assert message["properties"]["request_id"] == context.aws_request_id
    assert message["properties"]["function"] == "report-generator"


@pytest.mark.parametrize("entry", ["handler", "async_handler"])
def test_a_slow_server_never_turns_the_flush_into_a_lambda_timeout(
    bed: HttpBed, function: ModuleType, entry: str
) -> None:
    # 1.5 s left and the default 0.5 s margin: the flush may take 1 s, although the
    # decorator's own timeout is 5 s and the server takes 20 s to answer. Returning well
    # within the 5 s shows the context's bound applied; how close to its 1 s the flush
    # returns is a figure of speed, printed by bench/flush_deadline.py, not asserted here.
    bed.responder = lambda request: Delay(20)
    context = LambdaContext(remaining_seconds=1.5)

    started = time.monotonic()
    result = getattr(function, entry)({"user_id": "user_1"}, context)
    elapsed = time.monotonic() - started

    assert result["statusCode"] == 200
    assert elapsed < serverless.DEFAULT_TIMEOUT - 1, f"the handler took {elapsed:.2f} s"
    bed.wait_for_requests(1)  # the flush did send, and the server held the answer
    assert not bed.delivered_messages


@pytest.mark.parametrize(
    ("remaining_ms", "budget"),
    [
        (30_000, serverless.DEFAULT_TIMEOUT),  # plenty of time: the decorator's own timeout
        (1_500, 1.0),  # the deadline minus the margin
        (400, 0.0),  # less than the margin: no flush at all rather than a Lambda timeout
    ],
)
def test_the_flush_budget_is_the_timeout_or_the_time_left_less_the_margin(
    remaining_ms: int, budget: float
) -> None:
    context = StoppedClockContext(remaining_ms)
    timeout, margin = serverless.DEFAULT_TIMEOUT, serverless.DEFAULT_MARGIN
    assert serverless._budget(timeout, margin, ({}, context), {}) == budget
    assert serverless._budget(timeout, margin, (), {"context": context}) == budget
