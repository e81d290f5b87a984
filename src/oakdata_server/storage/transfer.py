"""`oakdata migrate --from sqlite:///... --to URL`: moving an installation to PostgreSQL, or
to ClickHouse for events with PostgreSQL for the rest.

Every table is copied as it is, ids included, so cursors, persons and keys mean the same
afterwards; each table streams in chunks (COPY into PostgreSQL, the live ingest's inserts
into ClickHouse), so a file larger than memory moves too. The destination must be empty (no
project yet, and no event in ClickHouse): copying into a database that already holds data
would mix two installations' ids. The PostgreSQL part is one transaction, and the events go
to ClickHouse last, just before it commits: a failure leaves PostgreSQL as empty as it was
and ClickHouse's two tables emptied again (they were empty before). The source is only
read; stop the server writing to it first (docs/scaling.md, runbook).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from oakdata_server.json_values import load_stored
from oakdata_server.storage import SQLITE_SCHEME
from oakdata_server.storage._events import NewEvents
from oakdata_server.storage._pg_schema import migrate
from oakdata_server.storage.base import StorageUnavailable
from oakdata_server.storage.clickhouse import ClickHouseEvents, split_url
from oakdata_server.storage.postgres import public_location
from oakdata_server.validation import ValidMessage

CHUNK_ROWS = 10_000


def _identifier(value: Any) -> bytes:
    return str(value).encode()


def _boolean(value: Any) -> bool:
    return bool(value)


# (table, columns, a conversion per column or None, the table's id sequence or None)
_TABLES: list[tuple[str, tuple[str, ...], dict[str, Callable[[Any], Any]], str | None]] = [
    ("projects", ("id", "name", "created_at"), {}, "projects_id_seq"),
    (
        "api_keys",
        (
            "id",
            "project_id",
            "kind",
            "lookup_id",
            "key_hash",
            "name",
            "origins",
            "created_at",
            "revoked_at",
        ),
        {},
        "api_keys_id_seq",
    ),
    # PostgreSQL keeps no type or receipt time of a message (_pg_schema.py, version 2).
    ("messages", ("project_id", "uuid"), {}, None),
    (
        "events",
        (
            "id",
            "project_id",
            "uuid",
            "distinct_id",
            "event",
            "timestamp",
            "client_timestamp",
            "received_at",
            "properties",
            "groups",
        ),
        {"distinct_id": _identifier, "event": _identifier},
        "events_id_seq",
    ),
    (
        "event_groups",
        ("event_id", "project_id", "group_type", "group_key", "timestamp"),
        {"group_type": _identifier, "group_key": _identifier},
        None,
    ),
    ("persons", ("id", "project_id", "properties"), {}, "persons_id_seq"),
    (
        "person_ids",
        ("project_id", "distinct_id", "person_id", "identified"),
        {"distinct_id": _identifier, "identified": _boolean},
        None,
    ),
    (
        "groups",
        ("project_id", "group_type", "group_key", "properties"),
        {"group_type": _identifier, "group_key": _identifier},
        None,
    ),
]


def sqlite_path(url: str) -> str:
    if url.startswith(SQLITE_SCHEME):
        return url[len(SQLITE_SCHEME) :]
    if "://" in url:
        raise ValueError("--from must be a SQLite file or sqlite:/// URL")
    return url


def copy_sqlite(source: str, destination: str) -> dict[str, int]:
    """Rows copied per table into a postgresql:// database, or a clickhouse:// one and its
    identity database. Raises ValueError when the destination already holds data."""
    from oakdata_server.storage import open_storage

    # Opening brings the source's schema up to date (and refuses a newer one).
    open_storage(source, create=False).close()
    events: ClickHouseEvents | None = None
    identity = destination
    if destination.startswith("clickhouse://"):
        events_url, identity = split_url(destination)
        events = ClickHouseEvents(events_url)  # brings ClickHouse's tables up to date
    reading = sqlite3.connect(f"file:{sqlite_path(source)}?mode=ro", uri=True)
    inserted = False  # whether ClickHouse may hold rows of this copy
    try:
        with psycopg.connect(identity, autocommit=True) as writing:
            migrate(writing)
            with writing.transaction():
                if writing.execute("SELECT 1 FROM projects LIMIT 1").fetchone() is not None:
                    raise ValueError(
                        f"{public_location(identity)} already holds projects; "
                        "migrate into an empty database"
                    )
                if events is not None and events.query("SELECT count() FROM events").strip() != "0":
                    raise ValueError(
                        f"{events.location} already holds events; migrate into empty tables"
                    )
                copied = {
                    table: _copy_table(reading, writing, table, columns, conversions, sequence)
                    for table, columns, conversions, sequence in _TABLES
                    if events is None or table not in _EVENT_TABLES
                }
                if events is not None:
                    inserted = True
                    copied |= _copy_events(reading, writing, events)
            return copied
    except BaseException:
        if events is not None and inserted:
            # Empty before this copy, so emptied again; if ClickHouse cannot be reached now,
            # the next try says that it holds events.
            with contextlib.suppress(StorageUnavailable):
                for table in _EVENT_TABLES:
                    events.query(f"TRUNCATE TABLE {table}")
        raise
    finally:
        reading.close()
        if events is not None:
            events.close()


_EVENT_TABLES = ("events", "event_groups")
_EVENT_COLUMNS = next(columns for table, columns, _, _ in _TABLES if table == "events")


def _copy_events(
    reading: sqlite3.Connection, writing: psycopg.Connection[Any], events: ClickHouseEvents
) -> dict[str, int]:
    """The events into ClickHouse, as live ingest writes them (each tagged event copied into
    event_groups too), and PostgreSQL's id sequence past them."""
    count = tagged = 0
    names = ", ".join(_EVENT_COLUMNS)
    cursor = reading.execute(f"SELECT {names} FROM events ORDER BY id")  # noqa: S608
    while rows := cursor.fetchmany(CHUNK_ROWS):
        # The columns of _EVENT_COLUMNS: id, project_id, uuid, distinct_id, event, timestamp,
        # client_timestamp, received_at, properties, groups.
        messages = [
            ValidMessage(
                "capture",
                r[2],
                r[5],
                r[6],
                distinct_id=r[3],
                event=r[4],
                properties_json=r[8],
                groups=_groups(r[9]),
            )
            for r in rows
        ]
        ids, project_ids, received = (
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[7] for r in rows],
        )
        events.write(writing, NewEvents(ids, project_ids, messages, received))
        count += len(rows)
        tagged += sum(len(m.groups) for m in messages)
    (last,) = reading.execute("SELECT max(id) FROM events").fetchone() or (None,)
    writing.execute("SELECT setval('events_id_seq', COALESCE(%s::bigint, 0) + 1, false)", (last,))
    return {"events": count, "event_groups": tagged}


def _groups(text: str) -> dict[str, str]:
    groups = load_stored(text)
    return groups if isinstance(groups, dict) else {}


def _copy_table(
    reading: sqlite3.Connection,
    writing: psycopg.Connection[Any],
    table: str,
    columns: tuple[str, ...],
    conversions: dict[str, Callable[[Any], Any]],
    sequence: str | None,
) -> int:
    names = ", ".join(columns)
    convert = [conversions.get(column) for column in columns]
    count = 0
    # Table and column names are our own constants above; no value is formatted in.
    with writing.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in _rows(reading, f"SELECT {names} FROM {table}"):  # noqa: S608
            copy.write_row(
                [c(v) if c and v is not None else v for c, v in zip(convert, row, strict=True)]
            )
            count += 1
    if sequence is not None:
        writing.execute(
            f"SELECT setval('{sequence}', COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"  # noqa: S608
        )
    return count


def _rows(reading: sqlite3.Connection, query: str) -> Iterator[tuple[Any, ...]]:
    cursor = reading.execute(query)
    while rows := cursor.fetchmany(CHUNK_ROWS):
        yield from rows
