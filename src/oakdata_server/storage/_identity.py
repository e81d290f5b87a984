"""Persons, their ids and properties, inside the caller's transaction."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from oakdata_server.validation import ValidMessage

# {name: [value, timestamp, uuid]}: the newest (timestamp, uuid) wins whatever arrives first.
Versioned = dict[str, list[Any]]


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


def merge(db: sqlite3.Connection, project_id: int, first_id: str, second_id: str) -> None:
    """Make the persons of two ids one; their events follow because events keep their ids."""
    first = ensure_person(db, project_id, first_id)
    second = ensure_person(db, project_id, second_id)
    if first == second:
        return
    keep, drop = min(first, second), max(first, second)
    merged = merge_versioned(_versioned(db, keep), _versioned(db, drop))
    db.execute("UPDATE person_ids SET person_id = ? WHERE person_id = ?", (keep, drop))
    db.execute("UPDATE persons SET properties = ? WHERE id = ?", (_dump(merged), keep))
    db.execute("DELETE FROM persons WHERE id = ?", (drop,))


def set_person_properties(db: sqlite3.Connection, person_id: int, message: ValidMessage) -> None:
    merged = merge_versioned(_versioned(db, person_id), _stamp(message))
    db.execute("UPDATE persons SET properties = ? WHERE id = ?", (_dump(merged), person_id))


def set_group_properties(db: sqlite3.Connection, project_id: int, message: ValidMessage) -> None:
    key = (project_id, message.group_type, message.group_key)
    row = db.execute(
        "SELECT properties FROM groups WHERE project_id = ? AND group_type = ? AND group_key = ?",
        key,
    ).fetchone()
    merged = merge_versioned(json.loads(row[0]) if row else {}, _stamp(message))
    db.execute(
        "INSERT OR REPLACE INTO groups (project_id, group_type, group_key, properties)"
        " VALUES (?, ?, ?, ?)",
        (*key, _dump(merged)),
    )


def person_properties(db: sqlite3.Connection, person_id: int) -> dict[str, Any]:
    return plain(_versioned(db, person_id))


def merge_versioned(left: Versioned, right: Versioned) -> Versioned:
    merged = dict(left)
    for name, entry in right.items():
        current = merged.get(name)
        if current is None or (entry[1], entry[2]) > (current[1], current[2]):
            merged[name] = entry
    return merged


def plain(versioned: Versioned) -> dict[str, Any]:
    return {name: entry[0] for name, entry in sorted(versioned.items())}


def _stamp(message: ValidMessage) -> Versioned:
    return {
        name: [value, message.timestamp, message.uuid] for name, value in message.properties.items()
    }


def _versioned(db: sqlite3.Connection, person_id: int) -> Versioned:
    row = db.execute("SELECT properties FROM persons WHERE id = ?", (person_id,)).fetchone()
    loaded: Versioned = json.loads(row[0]) if row else {}
    return loaded


def _dump(versioned: Versioned) -> str:
    return json.dumps(versioned, separators=(",", ":"), ensure_ascii=False)
