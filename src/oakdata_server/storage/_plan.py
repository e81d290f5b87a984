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
from itertools import compress
from typing import NamedTuple

from oakdata_server.storage._events import NewEvents
from oakdata_server.storage.base import IngestRequest, IngestResult
from oakdata_server.validation import ValidMessage, format_timestamp


class Run(NamedTuple):
    """Captures stored together, as columns (a run of a group's 20,000 messages is built by
    extending lists, without a Python step per capture): the i-th is messages[i], whose
    request arrived at received[i] (as stored) with a key trusted[i] or not."""

    messages: list[ValidMessage]
    received: list[str]
    trusted: list[bool]

    def extend(self, messages: Sequence[ValidMessage], received: str, trusted: bool) -> None:
        self.messages.extend(messages)
        self.received.extend([received] * len(messages))
        self.trusted.extend([trusted] * len(messages))


# Whether each capture was stored (False: its uuid was seen before, or earlier in the run).
StoreCaptures = Callable[[Run], list[bool]]
# One other message: True stored, False a duplicate, or why a public key may not send it.
StoreOther = Callable[[ValidMessage, str, bool], "bool | str"]


def store_requests(
    requests: Sequence[IngestRequest], captures: StoreCaptures, other: StoreOther
) -> list[IngestResult]:
    """Each request's answer, the requests stored in the order the module describes."""
    results: dict[int, IngestResult] = {}
    plain = [n for n, r in enumerate(requests) if all(m.type == "capture" for m in r.messages)]
    run = Run([], [], [])
    for n in plain:
        request = requests[n]
        run.extend(request.messages, format_timestamp(request.received_at), request.trusted)
    stored = captures(run) if run.messages else []
    start = 0
    for n in plain:
        end = start + len(requests[n].messages)
        accepted = sum(stored[start:end])
        results[n] = IngestResult(accepted, end - start - accepted)
        start = end
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
            run = Run([], [], [])
            run.extend(messages[start:end], received, trusted)
            stored = sum(captures(run))
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


def first_sightings(run: Run, seen: set[str]) -> list[bool]:
    """Whether each capture is the first of its uuid, given the uuids `seen` before (a uuid
    twice in a run is stored once, the first); `seen` gains the new ones."""
    first = []
    for m in run.messages:
        first.append(m.uuid not in seen)
        seen.add(m.uuid)
    return first


def chosen(run: Run, keep: list[bool]) -> Run:
    """The captures of `run` that `keep` marks."""
    return Run(
        list(compress(run.messages, keep)),
        list(compress(run.received, keep)),
        list(compress(run.trusted, keep)),
    )


def new_events(ids: Sequence[int], project_id: int, run: Run) -> NewEvents:
    """The captures of `run` as the events they become, given their ids in order."""
    return NewEvents(ids, [project_id] * len(run.messages), run.messages, run.received)
