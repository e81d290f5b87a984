"""A timeline (the JSON the reading API returns) as text a person reads in a terminal."""

from __future__ import annotations

import json
from typing import Any

_HIDDEN_PROPERTIES = ("$lib", "$lib_version")  # the same on every event: noise when reading


def render_timeline(timeline: dict[str, Any]) -> str:
    lines = [
        f"Person {timeline['distinct_id']!r}",
        f"  ids:        {', '.join(timeline['distinct_ids'])}",
        f"  properties: {_compact(timeline['properties'])}",
        f"  events ({len(timeline['events'])}):",
    ]
    width = max((len(e["event"]) for e in timeline["events"]), default=0)
    for event in timeline["events"]:
        moment = event["timestamp"].replace("T", " ")[:23]
        shown = {k: v for k, v in event["properties"].items() if k not in _HIDDEN_PROPERTIES}
        source = event["properties"].get("$lib", "?")
        groups = f"  groups={_compact(event['groups'])}" if event["groups"] else ""
        lines.append(
            f"    {moment}  {event['event']:<{width}}  as {event['distinct_id']:<12}"
            f" via {source:<14} {_compact(shown)}{groups}"
        )
    if timeline.get("next_cursor"):
        lines.append("    ... more events: ask for the next page with the cursor")
    return "\n".join(lines)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
