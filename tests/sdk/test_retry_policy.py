"""The back-off policy and the Retry-After rule as pure functions: no server, no sleeping.

docs/protocol.md section 10 is the contract: the first wait is retry_initial_delay, doubled
each retry, jittered, capped at 30 s; Retry-After (delta-seconds or an HTTP date) is
honoured and capped at 30 s.
"""

from __future__ import annotations

import email.utils

import pytest

from oakdata._retry import MAX_DELAY, _uniform, backoff_delay, retry_after_delay

NOW = 1_700_000_000.0  # a whole second: HTTP dates have one-second resolution
SAMPLES = 500


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def test_the_cap_is_thirty_seconds():
    assert MAX_DELAY == 30.0


# ----------------------------------------------------------------------------- back-off


@pytest.mark.parametrize(
    ("retry_number", "initial_delay", "step"),
    [
        (1, 0.5, 0.5),
        (2, 0.5, 1.0),
        (3, 0.5, 2.0),
        (6, 0.5, 16.0),
        (7, 0.5, 30.0),  # 32 s, capped
        (1, 60.0, 30.0),  # a first delay over the cap is capped too
        (1_000, 0.5, 30.0),  # a long outage neither overflows nor passes the cap
        (3, 0.0, 0.0),  # retry_initial_delay=0 retries at once
    ],
)
def test_back_off_doubles_each_retry_and_jitters_over_the_upper_half_of_the_step(
    retry_number: int, initial_delay: float, step: float
):
    lowest = backoff_delay(retry_number, initial_delay, rand=lambda: 0.0)
    highest = backoff_delay(retry_number, initial_delay, rand=lambda: 1.0)
    assert (lowest, highest) == (step / 2, step)


@pytest.mark.parametrize("retry_number", [1, 3, 7, 40])
def test_back_off_with_real_jitter_stays_within_its_bounds_and_varies(retry_number: int):
    step = min(MAX_DELAY, 0.5 * 2.0 ** (retry_number - 1))
    delays = [backoff_delay(retry_number, 0.5) for _ in range(SAMPLES)]
    assert all(step / 2 <= delay <= step for delay in delays)
    # Both halves of the jitter range are reached: a fleet does not retry in lockstep.
    middle = step * 3 / 4
    assert any(delay < middle for delay in delays)
    assert any(delay > middle for delay in delays)


def test_the_jitter_source_draws_from_zero_to_one():
    draws = [_uniform() for _ in range(SAMPLES)]
    assert all(0.0 <= draw < 1.0 for draw in draws)
    assert len(set(draws)) > SAMPLES // 2


# ----------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 7 ", 7.0),
        ("30", 30.0),
        ("31", 30.0),
        ("86400", 30.0),
        ("9" * 400, 30.0),  # beyond any float: still the cap, never an overflow
        (_http_date(NOW + 10), 10.0),
        (_http_date(NOW - 10), 0.0),  # a date in the past: retry now
        (_http_date(NOW + 86400), 30.0),
    ],
)
def test_retry_after_is_honoured_in_seconds_or_as_an_http_date_and_capped(
    header: str, seconds: float
):
    assert retry_after_delay(header, NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "-5",  # negative
        "1.5",  # delta-seconds are whole numbers
        "1e3",
        "0x10",
        "soon",
        "\u00b2",  # a superscript two: str.isdigit() says yes, float() says no
        "\u0663",  # an Arabic-Indic three: not delta-seconds either
        "Wed, 31 Feb 2026 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",
    ],
)
def test_a_missing_or_unreadable_retry_after_leaves_the_delay_to_the_back_off(
    header: str | None,
):
    assert retry_after_delay(header, NOW) is None
