"""`oakdata migrate --from sqlite:///... --to postgresql://...`: moving an installation.

Every table is copied as it is, ids included, so cursors, persons and keys mean the same
afterwards; each table streams in chunks with COPY, so a file larger than memory moves too.
The destination must be empty (no project yet): copying into a database that already holds
data would mix two installations' ids. The whole copy is one transaction on the
destination: a failure leaves it as empty as it was. The source is only read; stop the
server writing to it first (docs/scaling.md, runbook).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from oakdata_server.storage import SQLITE_SCHEME
from oakdata_server.storage._pg_schema import migrate
from oakdata_server.storage.postgres import public_location

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
    ("messages", ("project_id", "uuid", "type", "received_at"), {}, None),
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


def copy_sqlite_to_postgres(source: str, destination: str) -> dict[str, int]:
    """Rows copied per table. Raises ValueError when the destination already holds data."""
    from oakdata_server.storage import open_storage

    # Opening brings the source's schema up to date (and refuses a newer one).
    open_storage(source, create=False).close()
    reading = sqlite3.connect(f"file:{sqlite_path(source)}?mode=ro", uri=True)
    try:
        with psycopg.connect(destination, autocommit=True) as writing:
            migrate(writing)
            with writing.transaction():
                if writing.execute("SELECT 1 FROM projects LIMIT 1").fetchone() is not None:
                    raise ValueError(
                        f"{public_location(destination)} already holds projects; "
                        "migrate into an empty database"
                    )
                return {
                    table: _copy_table(reading, writing, table, columns, conversions, sequence)
                    for table, columns, conversions, sequence in _TABLES
                }
    finally:
        reading.close()


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
