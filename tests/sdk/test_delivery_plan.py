"""The delivery plan as a pure generator: each answer class, the 413 split, retries, waits.

A test plays the shell's part: it answers each Send with a Response or a NetworkError and
each Wait with whether shutdown cut it short, with no socket and no sleep. The counters
the plan leaves are checked with the invariant every client's stats() keeps.
docs/protocol.md section 10 is the contract; test_delivery.py checks the same rules end
to end, once each, against a real server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from oakdata._config import Config
from oakdata._delivery import (
    MAX_CAUSE_CHARS,
    RETRYABLE_STATUSES,
    Action,
    Delivered,
    Deliverer,
    DropBatch,
    Plan,
    Result,
    RetryLater,
    Send,
    SplitBatch,
    Wait,
    classify,
)
from oakdata._retry import MAX_DELAY
from oakdata._stats import Counters, Stats
from oakdata._wire import NetworkError, Request, Response

from ._support import SECRET_KEY, assert_consistent, dropped_only

NOW = 1_700_000_000.0
OK = Response(200, {}, b'{"accepted": 1, "duplicates": 0, "rejected": []}')
INITIAL_DELAY = 1.0

Responder = Callable[[Request], Response | NetworkError]


def _config(**options: Any) -> Config:
    # gzip off: the tests read the batch back out of each request body.
    settings: dict[str, Any] = {
        "host": "http://127.0.0.1:9",
        "max_retries": 3,
        "retry_initial_delay": INITIAL_DELAY,
        "gzip": False,
        **options,
    }
    return Config(secret_key=SECRET_KEY, **settings)


def _messages(count: int) -> list[bytes]:
    return [json.dumps({"n": n}).encode() for n in range(count)]


def _batch(request: Request) -> list[int]:
    return [message["n"] for message in json.loads(request.body)["batch"]]


def _scripted(*answers: Response | NetworkError) -> Responder:
    """Answer with each of answers in turn, then 200."""
    remaining: Iterator[Response | NetworkError] = iter(answers)
    return lambda request: next(remaining, OK)


class Run:
    """What one plan did: its actions in order, what it returned, and the counters' stats."""

    def __init__(self, actions: list[Action], undelivered: int, stats: Stats) -> None:
        self.actions = actions
        self.undelivered = undelivered
        self.stats = stats

    @property
    def sends(self) -> list[Request]:
        return [action.request for action in self.actions if isinstance(action, Send)]

    @property
    def waits(self) -> list[float]:
        return [action.seconds for action in self.actions if isinstance(action, Wait)]


def _deliver(
    count: int,
    respond: Responder,
    *,
    interrupt_waits: bool = False,
    **options: Any,
) -> Run:
    """Drive deliver() over count messages as a shell does, each wait taking no time on
    the wall clock and exactly its length on the Deliverer's."""
    counters = Counters()
    counters.bind_accepted(lambda: count)  # the queue had accepted exactly this batch
    now = [0.0]
    deliverer = Deliverer(_config(**options), counters, clock=lambda: now[0])
    plan: Plan = deliverer.deliver(_messages(count))
    actions: list[Action] = []
    answer: Result = None
    try:
        while True:
            action = plan.send(answer)
            actions.append(action)
            if isinstance(action, Send):
                answer = respond(action.request)
            else:
                now[0] += action.seconds
                answer = interrupt_waits
    except StopIteration as stop:
        undelivered: int = stop.value
    stats = counters.snapshot()
    assert_consistent(stats)
    return Run(actions, undelivered, stats)


# ----------------------------------------------------------------------------- classify


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("answer", "rejected"),
    [
        (OK, ()),
        (Response(204, {}), ()),
        (Response(200, {}, b"not json"), ()),
        (_json(200, ["not", "an", "object"]), ()),
        (_json(200, {"rejected": [{"index": 1, "reason": "bad"}]}), ((1, "bad"),)),
        (
            _json(202, {"rejected": [{"index": 2}, {"index": 0, "reason": "x"}]}),
            ((0, "x"), (2, "no reason given")),
        ),
        # What cannot name a message of this batch is not a rejection of one.
        (_json(200, {"rejected": [{"index": 3}, {"index": -1}, {"index": True}, "0"]}), ()),
        (_json(200, {"rejected": {"index": 0}}), ()),
        (
            _json(200, {"rejected": [{"index": 1, "reason": "y" * 999}]}),
            ((1, "y" * MAX_CAUSE_CHARS),),
        ),
    ],
    ids=[
        "200",
        "204-empty",
        "200-not-json",
        "200-not-an-object",
        "200-one-rejected",
        "202-rejected-sorted-reason-defaulted",
        "200-rejections-out-of-range-or-malformed",
        "200-rejected-not-a-list",
        "200-reason-cut-to-one-line",
    ],
)
def test_a_2xx_is_delivered_less_the_messages_it_lists_as_rejected(
    answer: Response, rejected: tuple[tuple[int, str], ...]
):
    outcome = classify(answer, NOW, batch_size=3)
    assert isinstance(outcome, Delivered)
    assert outcome.rejected == rejected


def test_the_retryable_statuses_are_408_429_and_the_5xx():
    assert sorted(RETRYABLE_STATUSES) == [408, 429, 500, 502, 503, 504]


@pytest.mark.parametrize("status", [408, 429, 500, 501, 502, 503, 504, 507, 599])
def test_408_429_and_every_5xx_are_retried_after_the_back_off(status: int):
    outcome = classify(Response(status, {}), NOW, batch_size=1)
    assert isinstance(outcome, RetryLater)
    assert (outcome.after, outcome.cause) == (None, f"HTTP {status}")


@pytest.mark.parametrize(
    ("retry_after", "after"),
    [("7", 7.0), ("3600", MAX_DELAY), ("later", None), ("-1", None)],
)
@pytest.mark.parametrize("status", [429, 503])
def test_a_retryable_answer_waits_as_long_as_its_retry_after_says_within_the_cap(
    status: int, retry_after: str, after: float | None
):
    outcome = classify(Response(status, {"retry-after": retry_after}), NOW, batch_size=1)
    assert isinstance(outcome, RetryLater)
    assert outcome.after == after


def test_a_network_error_is_retried_after_the_back_off_naming_the_failure():
    outcome = classify(NetworkError("connection reset"), NOW, batch_size=1)
    assert isinstance(outcome, RetryLater)
    assert (outcome.after, outcome.cause) == (None, "connection reset")


def test_413_splits_the_batch():
    assert isinstance(classify(Response(413, {}), NOW, batch_size=2), SplitBatch)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (301, "refused the batch"),  # redirects are not followed: the host is wrong
        (400, "refused the batch"),
        (401, "rejected the secret key"),
        (403, "not allowed"),
        (404, "nothing answers at the ingest URL"),
        (409, "refused the batch"),
        (422, "refused the batch"),
    ],
)
def test_any_other_answer_drops_the_batch_with_a_one_line_cause(status: int, words: str):
    outcome = classify(Response(status, {}), NOW, batch_size=1)
    assert isinstance(outcome, DropBatch)
    assert outcome.cause.startswith(f"HTTP {status}: ")
    assert words in outcome.cause


def test_a_client_error_cause_carries_the_servers_error_code_and_message_cut_short():
    body = {"error": {"code": "invalid_message", "message": "bad\n" * 200}}
    outcome = classify(_json(422, body), NOW, batch_size=1)
    assert isinstance(outcome, DropBatch)
    assert "(invalid_message: bad" in outcome.cause
    assert len(outcome.cause) == MAX_CAUSE_CHARS


# ----------------------------------------------------------------------------- the plan: 2xx


def test_the_request_carries_the_batch_to_the_ingest_url_with_the_key_and_timeout():
    run = _deliver(3, _scripted(), request_timeout=4.0)
    (request,) = run.sends
    assert request.url == "http://127.0.0.1:9/api/oak/ingest"
    assert request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert request.timeout == 4.0
    assert _batch(request) == [0, 1, 2]


def test_a_2xx_delivers_the_batch_in_one_request():
    run = _deliver(3, _scripted())
    assert (len(run.sends), run.waits, run.undelivered) == (1, [], 0)
    assert (run.stats.delivered, run.stats.retried, run.stats.queued) == (3, 0, 0)
    dropped_only(run.stats)


def test_messages_a_2xx_lists_as_rejected_are_dropped_and_the_rest_delivered_without_retry():
    rejected = _json(200, {"rejected": [{"index": 0, "reason": "a"}, {"index": 2, "reason": "b"}]})
    run = _deliver(4, _scripted(rejected))
    assert (len(run.sends), run.waits, run.undelivered) == (1, [], 2)
    assert (run.stats.delivered, run.stats.retried) == (2, 0)
    dropped_only(run.stats, rejected_by_server=2)


# ----------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "failure",
    [
        Response(408, {}),
        Response(429, {}),
        Response(500, {}),
        Response(503, {}),
        NetworkError("connection refused"),
    ],
    ids=["408", "429", "500", "503", "network-error"],
)
def test_a_transient_failure_is_retried_with_the_same_messages_until_delivered(
    failure: Response | NetworkError,
):
    run = _deliver(2, _scripted(failure, failure))
    assert [_batch(request) for request in run.sends] == [[0, 1]] * 3
    assert [type(action) for action in run.actions] == [Send, Wait, Send, Wait, Send]
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (0, 2, 2)
    dropped_only(run.stats)


def test_retry_after_sets_the_wait_exactly_and_is_capped_at_thirty_seconds():
    run = _deliver(
        1,
        _scripted(
            Response(429, {"retry-after": "7"}),
            Response(503, {"retry-after": "0"}),
            Response(429, {"retry-after": "86400"}),
        ),
    )
    assert run.waits == [7.0, 0.0, MAX_DELAY]
    assert run.stats.delivered == 1


def test_without_retry_after_the_waits_double_with_jitter_up_to_thirty_seconds():
    run = _deliver(1, lambda request: Response(500, {}), max_retries=8)
    steps = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]  # retry_initial_delay=1
    assert len(run.waits) == len(steps)
    for wait, step in zip(run.waits, steps, strict=True):
        assert step / 2 <= wait <= step


def test_a_batch_still_failing_after_max_retries_is_dropped_as_retries_exhausted():
    run = _deliver(3, lambda request: Response(503, {}), max_retries=2)
    assert [type(action) for action in run.actions] == [Send, Wait, Send, Wait, Send]
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (3, 0, 2)
    dropped_only(run.stats, retries_exhausted=3)


def test_max_retries_zero_drops_after_the_first_failure_without_waiting():
    run = _deliver(2, _scripted(NetworkError("timed out")), max_retries=0)
    assert [type(action) for action in run.actions] == [Send]
    assert (run.undelivered, run.stats.retried) == (2, 0)
    dropped_only(run.stats, retries_exhausted=2)


def test_a_wait_cut_short_by_shutdown_drops_the_batch_as_shutdown_timeout():
    run = _deliver(2, _scripted(Response(500, {})), interrupt_waits=True)
    assert [type(action) for action in run.actions] == [Send, Wait]
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (2, 0, 1)
    dropped_only(run.stats, shutdown_timeout=2)


def test_with_a_spool_a_failing_batch_is_retried_past_max_retries_until_delivered():
    outage = [Response(503, {})] * 40
    run = _deliver(2, _scripted(*outage), max_retries=2, spool_path="/nonexistent/spool")
    assert len(run.sends) == 41
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (0, 2, 40)
    dropped_only(run.stats)


def test_with_a_spool_a_wait_cut_short_by_shutdown_leaves_the_batch_queued_not_dropped():
    run = _deliver(
        2, _scripted(Response(500, {})), interrupt_waits=True, spool_path="/nonexistent/spool"
    )
    assert (run.undelivered, run.stats.delivered, run.stats.queued) == (2, 0, 2)
    dropped_only(run.stats)


# ----------------------------------------------------------------------------- 4xx


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_client_error_drops_the_batch_as_client_error_without_retrying(status: int):
    run = _deliver(3, _scripted(Response(status, {})))
    assert [type(action) for action in run.actions] == [Send]
    assert (run.undelivered, run.stats.retried) == (3, 0)
    dropped_only(run.stats, client_error=3)


def test_a_client_error_is_logged_at_error_once_per_cause(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.ERROR, logger="oakdata")
    deliverer = Deliverer(_config(), Counters())
    answers = [Response(401, {}), Response(401, {}), Response(422, {})]
    for answer in answers:
        plan = deliverer.deliver(_messages(1))
        next(plan)
        with pytest.raises(StopIteration):
            plan.send(answer)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 2, logged
    assert "HTTP 401" in logged[0]
    assert "HTTP 422" in logged[1]


# ----------------------------------------------------------------------------- 413


def _refuse_413_when(rule: Callable[[list[int]], bool]) -> Responder:
    return lambda request: Response(413, {}) if rule(_batch(request)) else OK


def test_413_halves_the_batch_until_the_one_oversized_message_is_alone_and_dropped():
    poison = 3
    run = _deliver(8, _refuse_413_when(lambda batch: poison in batch))
    assert [_batch(request) for request in run.sends] == [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [0, 1, 2, 3],
        [0, 1],
        [2, 3],
        [2],
        [3],
        [4, 5, 6, 7],
    ]
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (1, 7, 0)
    dropped_only(run.stats, oversized_for_server=1)


def test_413_on_every_request_ends_with_each_message_dropped_as_oversized_for_server():
    run = _deliver(3, lambda request: Response(413, {}))
    assert [_batch(request) for request in run.sends] == [[0, 1, 2], [0], [1, 2], [1], [2]]
    assert (run.undelivered, run.stats.delivered) == (3, 0)
    dropped_only(run.stats, oversized_for_server=3)


def test_413_over_a_servers_count_limit_delivers_everything_in_smaller_requests():
    run = _deliver(9, _refuse_413_when(lambda batch: len(batch) > 2))
    delivered = [_batch(r) for r in run.sends if len(_batch(r)) <= 2]
    assert sorted(n for batch in delivered for n in batch) == list(range(9))
    assert (run.undelivered, run.stats.delivered) == (0, 9)
    dropped_only(run.stats)


def test_each_half_of_a_split_batch_has_retries_of_its_own():
    answers = [Response(413, {}), Response(500, {}), OK, Response(500, {}), OK]
    run = _deliver(4, _scripted(*answers), max_retries=1)
    assert [_batch(request) for request in run.sends] == [
        [0, 1, 2, 3],
        [0, 1],
        [0, 1],
        [2, 3],
        [2, 3],
    ]
    assert (run.undelivered, run.stats.delivered, run.stats.retried) == (0, 4, 2)


def _sizes(requests: Sequence[Request]) -> list[int]:
    return [len(_batch(request)) for request in requests]


def test_a_split_batch_keeps_the_order_of_its_messages():
    run = _deliver(5, _refuse_413_when(lambda batch: len(batch) > 1))
    assert _sizes(run.sends) == [5, 2, 1, 1, 3, 1, 2, 1, 1]
    delivered = [_batch(r)[0] for r in run.sends if len(_batch(r)) == 1]
    assert delivered == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------- the shell's part


def test_a_send_answered_with_anything_but_an_outcome_is_a_shell_bug():
    plan = Deliverer(_config(), Counters()).deliver(_messages(1))
    assert isinstance(next(plan), Send)
    with pytest.raises(TypeError):
        plan.send(True)
