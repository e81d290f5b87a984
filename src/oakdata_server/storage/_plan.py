"""The order in which an engine stores a group of requests (group_commit.py), engine-neutral.

Captures are most of what arrives and need no order among themselves beyond their ids, so
runs of them are stored a run at a time: the engine claims their uuids, makes persons for
new ids and writes the events in a few statements however long the run. Identify, alias and
group_identify change persons and go one by one, in their request's order. Requests made only
of captures are stored first, all their captures as one run: an order in which they could
have arrived, as they were sent at the same time. The person operators ($set, $set_once,
$unset) a capture carries merge the same in any order (versioned.py), so an engine may apply
them after its run is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import msgspec

from oakdata_server.storage._events import EventRow
from oakdata_server.storage.base import IngestRequest, IngestResult
from oakdata_server.validation import ValidMessage, format_timestamp


class Capture(NamedTuple):
    message: ValidMessage
    received: str  # when its request arrived, as stored
    trusted: bool


_ENCODE = msgspec.json.Encoder().encode

# Whether each capture was stored (False: its uuid was seen before, or earlier in the run).
StoreCaptures = Callable[[Sequence[Capture]], list[bool]]
# One other message: True stored, False a duplicate, or why a public key may not send it.
StoreOther = Callable[[ValidMessage, str, bool], "bool | str"]


def store_requests(
    requests: Sequence[IngestRequest], captures: StoreCaptures, other: StoreOther
) -> list[IngestResult]:
    """Each request's answer, the requests stored in the order the module describes."""
    results: dict[int, IngestResult] = {}
    plain = [n for n, r in enumerate(requests) if all(m.type == "capture" for m in r.messages)]
    run: list[Capture] = []
    for n in plain:
        received = format_timestamp(requests[n].received_at)
        run += [Capture(m, received, requests[n].trusted) for m in requests[n].messages]
    stored = iter(captures(run) if run else ())
    for n in plain:
        accepted = sum(next(stored) for _ in requests[n].messages)
        results[n] = IngestResult(accepted, len(requests[n].messages) - accepted)
    for n, request in enumerate(requests):
        if n not in results:
            results[n] = _store_in_order(request, captures, other)
    return [results[n] for n in range(len(requests))]


def _store_in_order(
    request: IngestRequest, captures: StoreCaptures, other: StoreOther
) -> IngestResult:
    messages, trusted = request.messages, request.trusted
    received = format_timestamp(request.received_at)
    accepted = duplicates = 0
    refused: list[tuple[int, str]] = []
    for start, end in _runs(messages):
        if messages[start].type == "capture":
            stored = sum(captures([Capture(m, received, trusted) for m in messages[start:end]]))
            accepted += stored
            duplicates += end - start - stored
            continue
        for position in range(start, end):
            outcome = other(messages[position], received, trusted)
            if isinstance(outcome, str):
                refused.append((position, outcome))  # not stored, nor remembered as seen
            elif outcome:
                accepted += 1
            else:
                duplicates += 1
    return IngestResult(accepted, duplicates, tuple(refused))


def _runs(messages: Sequence[ValidMessage]) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of captures and of each run of other messages, in order."""
    start = 0
    for position in range(1, len(messages) + 1):
        if position == len(messages) or (
            (messages[position].type == "capture") != (messages[start].type == "capture")
        ):
            yield start, position
            start = position


def first_sightings(captures: Sequence[Capture], seen: set[str]) -> list[bool]:
    """Whether each capture is the first of its uuid, given the uuids `seen` before (a uuid
    twice in a run is stored once, the first); `seen` gains the new ones."""
    first = []
    for c in captures:
        uuid = c.message.uuid
        first.append(uuid not in seen)
        seen.add(uuid)
    return first


def event_row(event_id: int, project_id: int, capture: Capture) -> EventRow:
    """The row a stored capture becomes, on every engine."""
    m = capture.message
    return EventRow(
        event_id,
        project_id,
        m.uuid,
        m.distinct_id,
        m.event,
        m.timestamp,
        m.client_timestamp,
        capture.received,
        m.properties_json,
        _ENCODE(m.groups).decode() if m.groups else "{}",
        m.groups,
    )
