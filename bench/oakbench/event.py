"""The bench event: six properties of the usual kinds, 1,000 distinct ids cycling.

The first property's key is the marker the sink counts: it occurs once per event and
nowhere else in any SDK's request body.
"""

from __future__ import annotations

from typing import Any

EVENT_NAME = "bench_event"
MARKER_KEY = "oakbench_plan"
MARKER = b'"oakbench_plan"'
DISTINCT_IDS = 1000


def distinct_ids() -> list[str]:
    return [f"user_{i:04d}" for i in range(DISTINCT_IDS)]


def properties() -> list[dict[str, Any]]:
    """One properties dict per distinct id (str, int, float, bool, nested dict, list)."""
    return [
        {
            MARKER_KEY: "pro",
            "seats": 3 + i % 50,
            "price": 49.5 + (i % 7) / 4,
            "trial": i % 3 == 0,
            "company": {"name": f"Acme {i % 97}", "country": "FR", "size": 120},
            "features": ["export", "sso", "audit-log"],
        }
        for i in range(DISTINCT_IDS)
    ]
