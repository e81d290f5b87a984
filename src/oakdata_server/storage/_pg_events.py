"""Events in PostgreSQL, beside the persons: COPY to write, index-ordered pages to read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from oakdata_server.storage._events import NewEvents, PageRow, groups_json, page_of, stored_event
from oakdata_server.storage.base import EventCount, Position, StoredEvent

_COLUMNS = (
    "e.id, e.uuid, e.event, e.distinct_id, e.timestamp, e.client_timestamp, e.received_at,"
    " e.properties, e.groups"
)
_COPY_EVENTS = (
    "COPY events (id, project_id, uuid, distinct_id, event, timestamp, client_timestamp,"
    " received_at, properties, groups) FROM STDIN"
)


class PostgresEvents:
    location = ""  # the same database as the persons'
    # While one group waits on its commit, the next claims its rows: with bench/engines.py's
    # clients and one worker, 56-58k events/s against 45-49k with one store at a time.
    stores_at_once = 2

    def write(self, db: Any, events: NewEvents) -> None:
        with db.cursor().copy(_COPY_EVENTS) as copy:
            for event_id, project_id, m, received in zip(*events, strict=True):
                copy.write_row(
                    (
                        event_id,
                        project_id,
                        m.uuid,
                        m.distinct_id.encode(),
                        m.event.encode(),
                        m.timestamp,
                        m.client_timestamp,
                        received,
                        m.properties_json,
                        groups_json(m.groups),
                    )
                )
        group_rows = [
            (event_id, project_id, t.encode(), k.encode(), m.timestamp)
            for event_id, project_id, m, _ in zip(*events, strict=True)
            for t, k in m.groups.items()
        ]
        if group_rows:
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO event_groups (event_id, project_id, group_type, group_key,"
                    " timestamp) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    group_rows,
                )

    def person_page(
        self, db: Any, project_id: int, person_id: int, limit: int, after: Position | None
    ) -> tuple[list[StoredEvent], Position | None]:
        position, at = _after(after)
        # Per id, the first rows in index order, then merged: a join of the whole person
        # would sort all its events for each page (45 ms for 100,000 events). Until ANALYZE
        # has seen an id's rows the planner guesses a few per id and reads them all with a
        # bitmap scan and a sort (30-70 ms for 100,000 events, whatever the ORDER BY says);
        # without bitmap scans, the index read in order is its cheapest plan whatever the
        # statistics. SET LOCAL ends with this read's transaction.
        db.execute("SET LOCAL enable_bitmapscan = off")
        return _page(
            db,
            f"SELECT {_COLUMNS} FROM person_ids p CROSS JOIN LATERAL ("  # noqa: S608
            " SELECT * FROM events e WHERE e.project_id = p.project_id"
            f" AND e.distinct_id = p.distinct_id{position}"
            " ORDER BY e.project_id, e.distinct_id, e.timestamp, e.id LIMIT %s) e"
            " WHERE p.person_id = %s ORDER BY e.timestamp, e.id LIMIT %s",
            (*at, limit + 1, person_id, limit + 1),
            limit,
        )

    def group_page(
        self,
        db: Any,
        project_id: int,
        group_type: str,
        group_key: str,
        limit: int,
        after: Position | None,
    ) -> tuple[list[StoredEvent], Position | None]:
        # Ordered and bounded by event_groups' own columns (copies of the event's timestamp
        # and id), so that its primary key is read in page order and stops after the page:
        # ordered by the events' columns, every event of the group was read and sorted.
        position, at = _after(after, "g.timestamp, g.event_id")
        return _page(
            db,
            f"SELECT {_COLUMNS} FROM event_groups g"  # noqa: S608
            " JOIN events e ON e.id = g.event_id WHERE g.project_id = %s"
            f" AND g.group_type = %s AND g.group_key = %s{position}"
            " ORDER BY g.timestamp, g.event_id LIMIT %s",
            (project_id, group_type.encode(), group_key.encode(), *at, limit + 1),
            limit,
        )

    def recent(
        self, db: Any, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]:
        # Newest first by id (the primary key, read backwards): arrival order, as on SQLite.
        named, parameters = ("", ()) if event is None else (" AND e.event = %s", (event.encode(),))
        cursor = db.execute(
            f"SELECT {_COLUMNS} FROM events e WHERE e.project_id = %s AND e.id > %s{named}"  # noqa: S608
            " ORDER BY e.id DESC LIMIT %s",
            (project_id, after_id, *parameters, limit),
        )
        return [stored_event(r) for r in _decoded(cursor)]

    def counts(self, db: Any, project_id: int, since: str, bucket_seconds: int) -> list[EventCount]:
        # Timestamps are fixed-width UTC text, so `>=` on the text is `>=` in time; the bucket
        # is exact (extract gives a numeric), where SQLite's julianday is a float.
        rows = db.execute(
            "SELECT event, floor(extract(epoch FROM timestamp::timestamptz - %s::timestamptz)"
            " / %s)::bigint AS bucket, count(*) FROM events"
            " WHERE project_id = %s AND timestamp >= %s GROUP BY event, bucket",
            (since, bucket_seconds, project_id, since),
        ).fetchall()
        return [EventCount(bytes(e).decode(), int(b), int(n)) for e, b, n in rows]

    def close(self) -> None:
        pass


def _after(
    after: Position | None, columns: str = "e.timestamp, e.id"
) -> tuple[str, tuple[Any, ...]]:
    """The condition (a constant fragment) and values that start a page after `after`, in
    the order of `columns` (a timestamp and an event id)."""
    if after is None:
        return "", ()
    return f" AND ({columns}) > (%s, %s)", (after.timestamp, after.event_id)


def _page(
    db: Any, query: str, parameters: tuple[Any, ...], limit: int
) -> tuple[list[StoredEvent], Position | None]:
    # Only our own constant fragments are formatted into `query`; values are parameters.
    with db.cursor(name="page") as cursor:  # server-side: rows arrive as they are read
        cursor.itersize = 100
        cursor.execute(query, parameters)
        return page_of(_decoded(cursor), limit)


def _decoded(cursor: Any) -> Iterator[PageRow]:
    for r in cursor:
        yield (r[0], r[1], bytes(r[2]).decode(), bytes(r[3]).decode(), *r[4:])
