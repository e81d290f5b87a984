"""What a stored JSON value may be, checked at ingest and enforced again when reading. Pure.

Every stored value must be readable by every reader: this server's JSON responses (which
refuse NaN and Infinity), SQLite's `json_extract` (which refuses nesting past 1000 levels),
JavaScript (which has no integers past 2^53 but does not fail on them) and PostgreSQL's
jsonb. So a value is refused at ingest when it holds a non-finite number, an integer outside
64 bits or nesting deeper than MAX_DEPTH; and the read path, which must never fail on what
is stored (rows written by older versions, or by hand), replaces what it cannot read.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # objects and arrays inside each other; real analytics properties use 2 or 3
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**64 - 1
UNREADABLE = {"$unreadable": "this stored value is not valid JSON within the server's limits"}


def problem(value: Any, path: str, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` may not be stored, naming where in it (e.g. 'properties.a[2]'); or None."""
    # An explicit stack: a value nested 900 deep must not exhaust Python's own recursion.
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{where}: numbers must be finite"
        elif isinstance(item, int):
            if not MIN_INTEGER <= item <= MAX_INTEGER:
                return f"{where}: integers must fit in 64 bits"
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                return f"{where}: nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                stack.extend((v, f"{where}.{k}"[:200], depth + 1) for k, v in item.items())
            else:
                stack.extend((v, f"{where}[{i}]"[:200], depth + 1) for i, v in enumerate(item))
    return None


def load_stored(text: str, wrapping: int = 0) -> Any:
    """A stored JSON text as a value any response can carry, whatever the text holds.

    `wrapping`: levels of nesting the store adds around values (versioned properties add 2).
    """
    try:
        value = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except (ValueError, RecursionError):
        return dict(UNREADABLE)
    return dict(UNREADABLE) if problem(value, "", MAX_DEPTH + wrapping) is not None else value


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number
