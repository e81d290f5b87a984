"""The figures of the table: where each comes from, its unit, its direction and its target."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OAK = "oakdata"
SPEEDUPS = "oakdata[speedups]"
PEERS = ("posthog", "segment")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    lower_is_better: bool
    scenario: str  # where the samples come from ("import" for import times)
    field: str
    target: float | None  # issue 6's target for oakdata
    target_speedups: float | None = None
    digits: int = 1

    def meets(self, value: float | None, column: str) -> bool | None:
        target = (
            self.target_speedups if column == SPEEDUPS and self.target_speedups else self.target
        )
        if value is None or target is None:
            return None
        return value <= target if self.lower_is_better else value >= target

    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = "≤" if self.lower_is_better else "≥"
        text = f"{sign} {format_value(self.target, self.digits)} {self.unit}"
        if self.target_speedups is not None:
            text += f" ({format_value(self.target_speedups, self.digits)} w/ speedups)"
        return text


def _figure(
    key: str, label: str, unit: str, lower: bool, source: str, target: Any, **kw: Any
) -> Figure:
    scenario, field = source.split(".")
    return Figure(key, label, unit, lower, scenario, field, target, **kw)


FIGURES = (
    _figure("capture_p50_us", "capture() median", "µs", True, "burst.p50_us", 8,
            target_speedups=3),
    _figure("capture_p99_us", "capture() p99, sink up", "µs", True, "burst.p99_us", None),
    _figure("capture_p99_down_us", "capture() p99, sink down (503)", "µs", True,
            "down.p99_us", 25),
    _figure("capture_p99_slow_us", "capture() p99, sink slow (50 ms)", "µs", True,
            "slow.p99_us", 25),
    _figure("burst_eps", "delivered events/s, burst", "ev/s", False,
            "burst.delivered_eps", 100_000, digits=0),
    _figure("cpu_per_100k", "CPU s per 100k events, end to end", "s", True,
            "burst.cpu_per_100k", 1.0, digits=2),
    _figure("slow_eps", "delivered events/s, sink 50 ms away", "ev/s", False,
            "slow.delivered_eps", 20_000, digits=0),
    _figure("memory_bytes", "memory per queued event (tracemalloc)", "B", True,
            "memory.traced_bytes_per_event", 600, digits=0),
    _figure("memory_rss_bytes", "memory per queued event (RSS growth)", "B", True,
            "memory.rss_bytes_per_event", None, digits=0),
    _figure("serverless_p50_ms", "serverless capture + flush, p50", "ms", True,
            "serverless.p50_ms", 0.3, digits=2),
    _figure("serverless_p99_ms", "serverless capture + flush, p99", "ms", True,
            "serverless.p99_ms", None, digits=2),
    _figure("import_ms", "import (cumulative, -X importtime)", "ms", True, "import.ms", 20),
)  # fmt: skip


def format_value(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if digits == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def medians(
    samples: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
) -> dict[str, dict[str, float | None]]:
    """figure key -> column -> median over the repeats (None when every repeat failed)."""
    table: dict[str, dict[str, float | None]] = {}
    for figure in FIGURES:
        row: dict[str, float | None] = {}
        for column, by_scenario in samples.items():
            values = [
                float(run[figure.field])
                for run in by_scenario.get(figure.scenario, [])
                if run.get(figure.field) is not None
            ]
            row[column] = statistics.median(values) if values else None
        table[figure.key] = row
    return table


def ratio(peer: float | None, oak: float | None) -> float | None:
    if peer is None or oak is None or oak == 0:
        return None
    return peer / oak


def render(
    table: Mapping[str, Mapping[str, float | None]],
    columns: Sequence[str],
    *,
    notes: Sequence[str] = (),
    heading: Callable[[str], str] = str,
) -> str:
    """A Markdown table: medians per SDK, each peer's ratio to oakdata, the target."""
    peers = [c for c in columns if c in PEERS]
    header = ["figure", *(heading(c) for c in columns)]
    header += [f"{p} ÷ oakdata" for p in peers] + ["oakdata target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for figure in FIGURES:
        row = table[figure.key]
        arrow = "lower is better" if figure.lower_is_better else "higher is better"
        cells = [f"{figure.label} ({figure.unit}, {arrow})"]
        cells += [format_value(row.get(c), figure.digits) for c in columns]
        for peer in peers:
            r = ratio(row.get(peer), row.get(OAK))
            cells.append("" if r is None else f"{r:.2f}x")
        cells.append(figure.target_text())
        verdicts = []
        for column in (OAK, SPEEDUPS):
            if column in columns:
                met = figure.meets(row.get(column), column)
                if met is not None:
                    suffix = "" if column == OAK else " (speedups)"
                    verdicts.append(("yes" if met else "NO") + suffix)
        cells.append(", ".join(verdicts))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n{note}" for note in notes]
    return "\n".join(lines)
