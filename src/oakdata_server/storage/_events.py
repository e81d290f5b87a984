"""Where the PostgreSQL engine keeps events: in PostgreSQL itself, or in ClickHouse.

Persons, ids and the exactly-once claims stay in PostgreSQL either way (postgres.py); an
event store only writes the rows of new events, inside the caller's transaction, and reads
pages of them, and the console's latest events and counts. Both stores assemble pages the
same way (`page_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import msgspec

from oakdata_server.json_values import load_stored
from oakdata_server.storage.base import MAX_PAGE_BYTES, EventCount, Position, StoredEvent
from oakdata_server.validation import ValidMessage

_ENCODE = msgspec.json.Encoder().encode


class NewEvents(NamedTuple):
    """Events to write, as columns: the i-th is the capture messages[i] with the id ids[i],
    of the project project_ids[i], received at received[i] (as stored). Each engine makes
    its own rows or text straight from them: a NamedTuple per event in between cost as much
    as ClickHouse's whole text (0.76 µs per event, 20,000 captures)."""

    ids: Sequence[int]
    project_ids: Sequence[int]
    messages: Sequence[ValidMessage]
    received: Sequence[str]


def groups_json(groups: dict[str, str]) -> str:
    """An event's groups as stored: a JSON object."""
    return _ENCODE(groups).decode() if groups else "{}"


def event_row(
    event_id: int, project_id: int, m: ValidMessage, received: str
) -> tuple[int, int, str, str, str, str, str, str, str, str]:
    """An event's columns as stored: id, project_id, uuid, distinct_id, event, timestamp,
    client_timestamp, received_at, properties, groups."""
    return (
        event_id,
        project_id,
        m.uuid,
        m.distinct_id,
        m.event,
        m.timestamp,
        m.client_timestamp,
        received,
        m.properties_json,
        groups_json(m.groups),
    )


# A page row: id, uuid, event, distinct_id, timestamp, client_timestamp, received_at,
# properties, groups; identifiers as text.
PageRow = tuple[int, str, str, str, str, str, str, str, str]


class EventStore(Protocol):
    location: str
    stores_at_once: int  # Storage.stores_at_once, which the event store decides

    def write(self, db: Any, events: NewEvents) -> None: ...
    def person_page(
        self, db: Any, project_id: int, person_id: int, limit: int, after: Position | None
    ) -> tuple[list[StoredEvent], Position | None]: ...
    def group_page(
        self,
        db: Any,
        project_id: int,
        group_type: str,
        group_key: str,
        limit: int,
        after: Position | None,
    ) -> tuple[list[StoredEvent], Position | None]: ...
    def recent(
        self, db: Any, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]: ...
    def counts(
        self, db: Any, project_id: int, since: str, bucket_seconds: int
    ) -> list[EventCount]: ...
    def close(self) -> None: ...


def page_of(rows: Iterable[PageRow], limit: int) -> tuple[list[StoredEvent], Position | None]:
    """Up to `limit` events and about MAX_PAGE_BYTES of properties, and where the next begins.

    `rows` come in page order, one more than `limit` when there is a next page; they are
    taken one by one, so a page of large events stops at its budget without the rest."""
    events: list[StoredEvent] = []
    size = 0
    for r in rows:
        if len(events) == limit or (events and size + len(r[7]) > MAX_PAGE_BYTES):
            last = events[-1]
            return events, Position(last.timestamp, last.id)
        size += len(r[7])
        events.append(stored_event(r))
    return events, None


def stored_event(r: PageRow | Sequence[Any]) -> StoredEvent:
    return StoredEvent(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], _object(r[7]), _object(r[8]))


def _object(text: str) -> dict[str, Any]:
    loaded = load_stored(text)
    return loaded if isinstance(loaded, dict) else {"$unreadable": "not a JSON object"}
