"""The console's chart of events over time, as numbers an SVG template draws. Pure.

Server-rendered SVG rather than a charting library: nothing to ship or fetch, it works offline,
and every label goes through the template's escaping like the rest of the console.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from oakdata_server.storage import EventCount

WIDTH, HEIGHT = 720, 240
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 48, 24, 12
MAX_SERIES = 6  # the busiest names; the rest are summed as "(other events)"
OTHER = "(other events)"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#7f7f7f")


@dataclass(frozen=True)
class Range:
    name: str
    seconds: int
    buckets: int

    @property
    def bucket_seconds(self) -> int:
        return self.seconds // self.buckets


RANGES = {"hour": Range("hour", 3600, 60), "day": Range("day", 86400, 48)}


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    total: int
    points: str  # an SVG polyline's points


@dataclass(frozen=True)
class Chart:
    series: list[Series]
    y_max: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    top: int = MARGIN_TOP
    bottom: int = HEIGHT - MARGIN_BOTTOM


def build_chart(counts: Sequence[EventCount], buckets: int) -> Chart:
    per_name: dict[str, list[int]] = defaultdict(lambda: [0] * buckets)
    for count in counts:
        if 0 <= count.bucket < buckets:
            per_name[count.event][count.bucket] += count.count
    ranked = sorted(per_name.items(), key=lambda item: (-sum(item[1]), item[0]))
    shown = ranked[:MAX_SERIES]
    if len(ranked) > MAX_SERIES:
        other = [sum(values[i] for _, values in ranked[MAX_SERIES:]) for i in range(buckets)]
        shown.append((OTHER, other))
    y_max = max([1, *(max(values) for _, values in shown)])
    plot_width = WIDTH - MARGIN_LEFT - 8
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    step = plot_width / max(1, buckets - 1)
    series = []
    for index, (name, values) in enumerate(shown):
        points = " ".join(
            f"{MARGIN_LEFT + i * step:.1f},{MARGIN_TOP + plot_height * (1 - v / y_max):.1f}"
            for i, v in enumerate(values)
        )
        series.append(Series(name, COLORS[index % len(COLORS)], sum(values), points))
    return Chart(series, y_max)
