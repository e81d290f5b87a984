"""Storing messages in SQLite, inside the caller's write transaction (sqlite.py), in the
order _plan.py gives.

A run of captures takes a few statements whatever its length: the uuids already stored are
looked up, then the new ones' claims, persons and events are inserted with executemany.
Looking up then inserting is safe because the write transaction (BEGIN IMMEDIATE) holds
the database's only write lock: no one else can claim a uuid in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from oakdata_server.storage import _sqlite_persons as persons
from oakdata_server.storage._events import event_row
from oakdata_server.storage._plan import Run, chosen, first_sightings
from oakdata_server.validation import ValidMessage

# Values per IN (...) list: SQLite before 3.32 allows 999 parameters in one statement.
_CHUNK = 500


def store_captures(db: sqlite3.Connection, project_id: int, run: Run) -> list[bool]:
    """Whether each capture was stored (False: a duplicate)."""
    seen = set(_found(db, "messages", "uuid", project_id, [m.uuid for m in run.messages]))
    stored = first_sightings(run, seen)
    new = chosen(run, stored)
    if not new.messages:
        return stored
    db.executemany(
        "INSERT INTO messages (project_id, uuid, type, received_at) VALUES (?, ?, 'capture', ?)",
        [(project_id, m.uuid, r) for m, r in zip(new.messages, new.received, strict=True)],
    )
    distinct_ids = {m.distinct_id for m in new.messages}
    known = set(_found(db, "person_ids", "distinct_id", project_id, list(distinct_ids)))
    for distinct_id in sorted(distinct_ids - known):
        persons.ensure_person(db, project_id, distinct_id)
    for m, trusted in zip(new.messages, new.trusted, strict=True):
        if m.changes_person:  # $set, $set_once, $unset carried by the event
            person_id = persons.ensure_person(db, project_id, m.distinct_id)
            persons.change_person_properties(db, person_id, m, trusted)
    # Ids given here, in the run's order, so that the groups' rows can name them; nobody
    # else inserts while this transaction holds the write lock.
    (last,) = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
    ids = range(last + 1, last + 1 + len(new.messages))
    db.executemany(
        "INSERT INTO events (id, project_id, uuid, distinct_id, event, timestamp,"
        " client_timestamp, received_at, properties, groups)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            event_row(event_id, project_id, m, received)
            for event_id, m, received in zip(ids, new.messages, new.received, strict=True)
        ],
    )
    db.executemany(
        "INSERT OR IGNORE INTO event_groups (event_id, project_id, group_type, group_key,"
        " timestamp) VALUES (?, ?, ?, ?, ?)",
        [
            (event_id, project_id, t, k, m.timestamp)
            for event_id, m in zip(ids, new.messages, strict=True)
            for t, k in m.groups.items()
        ],
    )
    return stored


def store_other(
    db: sqlite3.Connection, project_id: int, message: ValidMessage, received: str, trusted: bool
) -> bool | str:
    """True stored, False a duplicate, or why a public key may not send it."""
    if not trusted and not _public_key_may(db, project_id, message):
        return persons.REFUSED_LINK
    cursor = db.execute(
        "INSERT OR IGNORE INTO messages (project_id, uuid, type, received_at) VALUES (?, ?, ?, ?)",
        (project_id, message.uuid, message.type, received),
    )
    if cursor.rowcount == 0:
        return False
    if message.type == "identify":
        person_id = persons.ensure_person(db, project_id, message.distinct_id)
        persons.change_person_properties(db, person_id, message, trusted)
        persons.mark_identified(db, project_id, message.distinct_id)
        if message.anon_distinct_id:
            persons.merge(db, project_id, message.distinct_id, message.anon_distinct_id)
            if trusted:
                persons.mark_identified(db, project_id, message.anon_distinct_id)
    elif message.type == "alias":
        persons.merge(db, project_id, message.distinct_id, message.alias)
        if trusted:
            persons.mark_identified(db, project_id, message.distinct_id, message.alias)
    else:
        persons.set_group_properties(db, project_id, message)
    return True


def _public_key_may(db: sqlite3.Connection, project_id: int, message: ValidMessage) -> bool:
    if message.type == "alias":
        return persons.may_link(db, project_id, message.distinct_id, message.alias)
    if message.type == "identify" and message.anon_distinct_id:
        return persons.may_link(db, project_id, message.distinct_id, message.anon_distinct_id)
    return True


def _found(
    db: sqlite3.Connection, table: str, column: str, project_id: int, values: list[str]
) -> Iterator[str]:
    """Those of `values` that `table` holds for the project, looked up by its primary key."""
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        # `table` and `column` are our own constants; the values are parameters.
        yield from (
            row[0]
            for row in db.execute(
                f"SELECT {column} FROM {table} WHERE project_id = ? AND {column} IN ({marks})",  # noqa: S608
                (project_id, *chunk),
            )
        )
