"""A CI-sized soak (about 20 s): bench/soak.py runs the same for minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .soak import MAX_BATCH_MESSAGES, run_soak

MIB = 1024 * 1024


@pytest.mark.slow
def test_a_flapping_server_keeps_memory_flat_the_queue_bounded_and_every_event_counted(
    tmp_path: Path,
) -> None:
    result = run_soak(
        tmp_path / "oakdata.db", seconds=20.0, threads=4, rate_per_thread=150.0, phase_seconds=2.0
    )
    final = result.final
    summary = f"{final!r}, max queued {result.max_queued}, notes {result.notes}"
    assert len(result.samples) >= 15, summary
    # Every phase was met, and faults did cost something: the accounting was exercised.
    assert {s.phase for s in result.samples} == {"up", "down", "500"}, summary
    assert final.retried > 0, summary
    assert result.rss_growth_after_warmup() < 20 * MIB, [s.rss for s in result.samples]
    assert result.max_queued <= result.max_queue_size + MAX_BATCH_MESSAGES, summary
    assert final.queued == 0, summary
    assert final.captured == final.delivered + final.dropped_total, summary
    assert not result.notes, summary
    assert result.shutdown_delivered, summary
    # Delivered means stored, once; dropped means never stored (no answer was lost here).
    assert result.stored_unique == final.delivered, summary
    assert result.stored == result.stored_unique, summary
