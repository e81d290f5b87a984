"""Persons, their ids and properties in PostgreSQL, inside the caller's transaction.

The same rules as _sqlite_persons.py, in PostgreSQL's SQL: which ids are identified, when a
public key may link, how two persons merge; which property value wins is versioned.py's,
shared by every engine. Identifiers are bytes here (_pg_schema.py says why).

Concurrency: the caller holds a per-project advisory lock for every change to persons and
ids, so two requests (two workers, two machines) never merge the same persons at once; the
rules then read as if there were one writer, as on SQLite.
"""

from __future__ import annotations

from typing import Any

# The stored form of versioned properties is the same text on every engine.
from oakdata_server.storage._sqlite_persons import _dump, load_person, message_update
from oakdata_server.storage._sqlite_persons import _load_versioned as load_versioned
from oakdata_server.storage.versioned import (
    PersonDocument,
    merge_persons,
    merge_versioned,
    person_plain,
    stamp,
)
from oakdata_server.validation import ValidMessage

Connection = Any  # a psycopg.Connection; psycopg's own types stay inside the engine


def identity_lock(db: Connection, project_id: int) -> None:
    """Serialize changes to a project's persons until the transaction ends."""
    db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (1, project_id))


def person_of(db: Connection, project_id: int, distinct_id: bytes) -> int | None:
    row = db.execute(
        "SELECT person_id FROM person_ids WHERE project_id = %s AND distinct_id = %s",
        (project_id, distinct_id),
    ).fetchone()
    return None if row is None else int(row[0])


def ensure_persons(db: Connection, project_id: int, distinct_ids: set[bytes]) -> None:
    """A person for each id that has none yet, in three statements whatever their number."""
    known = db.execute(
        "SELECT distinct_id FROM person_ids WHERE project_id = %s AND distinct_id = ANY(%s)",
        (project_id, list(distinct_ids)),
    ).fetchall()
    missing = sorted(distinct_ids - {bytes(row[0]) for row in known})
    if not missing:
        return
    rows = db.execute(
        "INSERT INTO persons (project_id, properties)"
        " SELECT %s, '{}' FROM generate_series(1, %s) RETURNING id",
        (project_id, len(missing)),
    ).fetchall()
    db.execute(
        "INSERT INTO person_ids (project_id, distinct_id, person_id)"
        " SELECT %s, d, p FROM unnest(%s::bytea[], %s::bigint[]) AS t(d, p)",
        (project_id, missing, [row[0] for row in rows]),
    )


def ensure_person(db: Connection, project_id: int, distinct_id: bytes) -> int:
    person_id = person_of(db, project_id, distinct_id)
    if person_id is not None:
        return person_id
    (person_id,) = db.execute(
        "INSERT INTO persons (project_id, properties) VALUES (%s, '{}') RETURNING id",
        (project_id,),
    ).fetchone()
    db.execute(
        "INSERT INTO person_ids (project_id, distinct_id, person_id) VALUES (%s, %s, %s)",
        (project_id, distinct_id, person_id),
    )
    return int(person_id)


def mark_identified(db: Connection, project_id: int, *distinct_ids: bytes) -> None:
    db.execute(
        "UPDATE person_ids SET identified = TRUE WHERE project_id = %s AND distinct_id = ANY(%s)",
        (project_id, list(distinct_ids)),
    )


def may_link(db: Connection, project_id: int, first_id: bytes, second_id: bytes) -> bool:
    """Whether a public key may link the two ids: one side must still be anonymous."""
    return not (_identified(db, project_id, first_id) and _identified(db, project_id, second_id))


def _identified(db: Connection, project_id: int, distinct_id: bytes) -> bool:
    row = db.execute(
        "SELECT 1 FROM person_ids mine JOIN person_ids other ON other.person_id = mine.person_id"
        " WHERE mine.project_id = %s AND mine.distinct_id = %s AND other.identified LIMIT 1",
        (project_id, distinct_id),
    ).fetchone()
    return row is not None


def merge(db: Connection, project_id: int, first_id: bytes, second_id: bytes) -> None:
    """Make the persons of two ids one; their events follow because events keep their ids."""
    first = ensure_person(db, project_id, first_id)
    second = ensure_person(db, project_id, second_id)
    if first == second:
        return
    keep, drop = min(first, second), max(first, second)
    merged = merge_persons(_person(db, keep), _person(db, drop))
    db.execute("UPDATE person_ids SET person_id = %s WHERE person_id = %s", (keep, drop))
    db.execute("UPDATE persons SET properties = %s WHERE id = %s", (_dump(merged), keep))
    db.execute("DELETE FROM persons WHERE id = %s", (drop,))


def change_person_properties(
    db: Connection, person_id: int, message: ValidMessage, trusted: bool
) -> None:
    """Apply the message's $set, $set_once and $unset (storage/versioned.py decides)."""
    merged = merge_persons(_person(db, person_id), message_update(message, trusted))
    db.execute("UPDATE persons SET properties = %s WHERE id = %s", (_dump(merged), person_id))


def set_group_properties(db: Connection, project_id: int, message: ValidMessage) -> None:
    key = (project_id, message.group_type.encode(), message.group_key.encode())
    row = db.execute(
        "SELECT properties FROM groups WHERE project_id = %s AND group_type = %s"
        " AND group_key = %s FOR UPDATE",
        key,
    ).fetchone()
    # Only secret keys may send group_identify, so group properties are always trusted.
    update = stamp(message.properties, message.timestamp, message.uuid, True)
    merged = merge_versioned(load_versioned(row[0]) if row else {}, update)
    db.execute(
        "INSERT INTO groups (project_id, group_type, group_key, properties)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (project_id, group_type, group_key)"
        " DO UPDATE SET properties = EXCLUDED.properties",
        (*key, _dump(merged)),
    )


def person_properties(db: Connection, person_id: int) -> dict[str, Any]:
    return person_plain(_person(db, person_id))


def _person(db: Connection, person_id: int) -> PersonDocument:
    row = db.execute("SELECT properties FROM persons WHERE id = %s", (person_id,)).fetchone()
    return {} if row is None else load_person(row[0])
