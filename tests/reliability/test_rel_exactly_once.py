"""Every captured event is stored exactly once, whatever happens between the SDK and the server."""

from __future__ import annotations

import itertools

import pytest

from .scenarios import (
    BURST_429,
    BURST_500,
    LOST_RESPONSES,
    MIXED,
    RESETS,
    Result,
    run_proxy_scenario,
    run_restart,
)

EVERY_ENGINE = True  # exactly-once is the storage's promise: on every engine (tests/engines.py)


def assert_exactly_once(result: Result) -> None:
    summary = (
        f"{result.scenario} ({result.client}): captured {result.captured}, stored "
        f"{result.stored}, duplicated {result.duplicated}, lost {result.lost}, unexpected "
        f"{result.unexpected}, delivered in time {result.delivered_in_time}, {result.stats!r}, "
        f"notes {result.notes}"
    )
    assert result.captured > 0, summary
    assert result.faults > 0, "no fault was injected: the scenario proved nothing. " + summary
    assert result.lost == 0, summary
    assert result.duplicated == 0, summary
    assert result.unexpected == 0, summary
    assert result.stored == result.captured, summary
    assert result.delivered_in_time, summary
    stats = result.stats
    assert stats.captured == result.captured, summary
    assert stats.captured == stats.delivered + stats.dropped_total, summary
    assert stats.dropped_total == 0, summary
    assert stats.queued == 0, summary
    assert not [note for note in result.notes if "disagree" in note], summary


@pytest.mark.parametrize("client", ["sync", "async"])
def test_responses_lost_after_the_server_stored_the_batch_store_each_event_once(
    storage_url: str, client: str
) -> None:
    result = run_proxy_scenario(LOST_RESPONSES, client, storage_url)
    assert_exactly_once(result)
    # The scenario bites only if the server stored batches whose answer never arrived, and
    # then saw them again.
    assert result.stored_then_lost > 0
    assert result.server_duplicates > 0


@pytest.mark.parametrize("client", ["sync", "async"])
def test_connections_reset_before_forwarding_store_each_event_once(
    storage_url: str, client: str
) -> None:
    result = run_proxy_scenario(RESETS, client, storage_url)
    assert_exactly_once(result)


@pytest.mark.parametrize("client", ["sync", "async"])
def test_a_burst_of_500s_is_retried_through_and_stores_each_event_once(
    storage_url: str, client: str
) -> None:
    result = run_proxy_scenario(BURST_500, client, storage_url)
    assert_exactly_once(result)
    assert result.faults == 8
    assert result.retried >= 8


def test_a_burst_of_429s_waits_for_retry_after_and_stores_each_event_once(
    storage_url: str,
) -> None:
    result = run_proxy_scenario(BURST_429, "sync", storage_url)
    assert_exactly_once(result)
    hops = result.hop_log
    for hop, following in itertools.pairwise(hops):
        if hop.action == "Inject":
            # Retry-After: 1 is honoured (jitter only applies without the header).
            assert following.at - hop.at >= 0.9, (hop, following)


@pytest.mark.parametrize("client", ["sync", "async"])
def test_every_fault_mixed_stores_each_event_once(storage_url: str, client: str) -> None:
    result = run_proxy_scenario(MIXED, client, storage_url)
    assert_exactly_once(result)


def test_a_server_restarted_mid_stream_loses_and_duplicates_nothing(storage_url: str) -> None:
    result = run_restart(storage_url)
    assert not [n for n in result.notes if "never" in n or "stalled" in n], result.notes
    assert_exactly_once(result)
    assert result.retried > 0, "the outage caught no request: it proved nothing"
