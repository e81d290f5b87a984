"""Persons, their ids and properties in SQLite, inside the caller's transaction.

Each id records whether it is identified: named by an `identify`, or linked by a secret key.
A person is anonymous while none of its ids is. Docs/server.md, "Security model", says why a
public key may only link when one side is anonymous.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from oakdata_server.json_values import load_stored
from oakdata_server.storage.versioned import (
    PersonDocument,
    Versioned,
    merge_persons,
    merge_versioned,
    person_plain,
    person_update,
    plain,
    stamp,
)
from oakdata_server.validation import ValidMessage

REFUSED_LINK = "link: both ids belong to identified persons; merging them needs a secret key"


def person_of(db: sqlite3.Connection, project_id: int, distinct_id: str) -> int | None:
    row = db.execute(
        "SELECT person_id FROM person_ids WHERE project_id = ? AND distinct_id = ?",
        (project_id, distinct_id),
    ).fetchone()
    return None if row is None else int(row[0])


def ensure_person(db: sqlite3.Connection, project_id: int, distinct_id: str) -> int:
    person_id = person_of(db, project_id, distinct_id)
    if person_id is not None:
        return person_id
    cursor = db.execute(
        "INSERT INTO persons (project_id, properties) VALUES (?, '{}')", (project_id,)
    )
    person_id = int(cursor.lastrowid or 0)
    db.execute(
        "INSERT INTO person_ids (project_id, distinct_id, person_id) VALUES (?, ?, ?)",
        (project_id, distinct_id, person_id),
    )
    return person_id


def mark_identified(db: sqlite3.Connection, project_id: int, *distinct_ids: str) -> None:
    db.executemany(
        "UPDATE person_ids SET identified = 1 WHERE project_id = ? AND distinct_id = ?",
        [(project_id, distinct_id) for distinct_id in distinct_ids],
    )


def may_link(db: sqlite3.Connection, project_id: int, first_id: str, second_id: str) -> bool:
    """Whether a public key may link the two ids: one side must still be anonymous."""
    return not (_identified(db, project_id, first_id) and _identified(db, project_id, second_id))


def _identified(db: sqlite3.Connection, project_id: int, distinct_id: str) -> bool:
    person_id = person_of(db, project_id, distinct_id)
    if person_id is None:
        return False
    row = db.execute(
        "SELECT 1 FROM person_ids WHERE person_id = ? AND identified = 1 LIMIT 1", (person_id,)
    ).fetchone()
    return row is not None


def merge(db: sqlite3.Connection, project_id: int, first_id: str, second_id: str) -> None:
    """Make the persons of two ids one; their events follow because events keep their ids."""
    first = ensure_person(db, project_id, first_id)
    second = ensure_person(db, project_id, second_id)
    if first == second:
        return
    keep, drop = min(first, second), max(first, second)
    merged = merge_persons(_person(db, keep), _person(db, drop))
    db.execute("UPDATE person_ids SET person_id = ? WHERE person_id = ?", (keep, drop))
    db.execute("UPDATE persons SET properties = ? WHERE id = ?", (_dump(merged), keep))
    db.execute("DELETE FROM persons WHERE id = ?", (drop,))


def change_person_properties(
    db: sqlite3.Connection, person_id: int, message: ValidMessage, trusted: bool
) -> None:
    """Apply the message's $set, $set_once and $unset (storage/versioned.py decides)."""
    merged = merge_persons(_person(db, person_id), message_update(message, trusted))
    db.execute("UPDATE persons SET properties = ? WHERE id = ?", (_dump(merged), person_id))


def message_update(message: ValidMessage, trusted: bool) -> PersonDocument:
    """A message's changes to its person, as a document to merge (the same on every engine)."""
    return person_update(
        message.person_set,
        message.person_set_once,
        message.person_unset,
        message.timestamp,
        message.uuid,
        trusted,
    )


def set_group_properties(db: sqlite3.Connection, project_id: int, message: ValidMessage) -> None:
    key = (project_id, message.group_type, message.group_key)
    row = db.execute(
        "SELECT properties FROM groups WHERE project_id = ? AND group_type = ? AND group_key = ?",
        key,
    ).fetchone()
    # Only secret keys may send group_identify, so group properties are always trusted.
    update = stamp(message.properties, message.timestamp, message.uuid, True)
    merged = merge_versioned(_load_versioned(row[0]) if row else {}, update)
    db.execute(
        "INSERT OR REPLACE INTO groups (project_id, group_type, group_key, properties)"
        " VALUES (?, ?, ?, ?)",
        (*key, _dump(merged)),
    )


def person_properties(db: sqlite3.Connection, person_id: int) -> dict[str, Any]:
    return person_plain(_person(db, person_id))


def group_properties(text: str) -> dict[str, Any]:
    return plain(_load_versioned(text))


def _person(db: sqlite3.Connection, person_id: int) -> PersonDocument:
    row = db.execute("SELECT properties FROM persons WHERE id = ?", (person_id,)).fetchone()
    return {} if row is None else load_person(row[0])


def load_person(text: str) -> PersonDocument:
    """A person's stored document (the same text on every engine)."""
    loaded = load_stored(text, wrapping=3)  # {"$set_once": {name: [value, ...]}} at most
    return loaded if isinstance(loaded, dict) else {}


def _load_versioned(text: str) -> Versioned:
    loaded = load_stored(text, wrapping=2)  # {name: [value, ...]} around each value
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(v, list) and len(v) >= 3}


def _dump(versioned: Versioned | PersonDocument) -> str:
    return json.dumps(versioned, separators=(",", ":"), ensure_ascii=False)
