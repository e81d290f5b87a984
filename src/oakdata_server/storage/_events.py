"""Where the PostgreSQL engine keeps events: in PostgreSQL itself, or in ClickHouse.

Persons, ids and the exactly-once claims stay in PostgreSQL either way (postgres.py); an
event store only writes the rows of new events, inside the caller's transaction, and reads
pages of them, and the console's latest events and counts. Both stores assemble pages the
same way (`page_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from oakdata_server.json_values import load_stored
from oakdata_server.storage.base import MAX_PAGE_BYTES, EventCount, Position, StoredEvent


class EventRow(NamedTuple):
    id: int
    project_id: int
    uuid: str
    distinct_id: str
    event: str
    timestamp: str
    client_timestamp: str
    received_at: str
    properties: str  # JSON text, as validated
    groups_json: str
    groups: dict[str, str]


# A page row: id, uuid, event, distinct_id, timestamp, client_timestamp, received_at,
# properties, groups; identifiers as text.
PageRow = tuple[int, str, str, str, str, str, str, str, str]


class EventStore(Protocol):
    location: str
    stores_at_once: int  # Storage.stores_at_once, which the event store decides

    def write(self, db: Any, rows: list[EventRow]) -> None: ...
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
