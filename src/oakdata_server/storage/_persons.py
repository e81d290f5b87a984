"""Persons, their ids and properties, inside the caller's transaction, on every SQL engine.

Each id records whether it is identified: named by an `identify`, or linked by a secret key.
A person is anonymous while none of its ids is. Docs/server.md, "Security model", says why a
public key may only link when one side is anonymous. Which property value wins is
versioned.py's; the stored documents are the same text on every engine.

The rules are written once against a connection and a `Dialect` (_sql.py); _sqlite_persons.py
and _pg_persons.py bind them to their engine. Identifiers arrive already in the engine's
stored form (`Id`), so callers on the ingest path encode each once.
"""

from __future__ import annotations

import json
from typing import Any, Generic

from oakdata_server.json_values import load_stored
from oakdata_server.storage._sql import Connection, Dialect, Id
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

_SELECT_GROUP = (
    "SELECT properties FROM groups WHERE project_id = ? AND group_type = ? AND group_key = ?"
)

REFUSED_LINK = "link: both ids belong to identified persons; merging them needs a secret key"


class Persons(Generic[Id]):
    def __init__(self, dialect: Dialect[Id]) -> None:
        self._dialect: Dialect[Id] = dialect
        self._sql = dialect.sql

    def person_of(self, db: Connection, project_id: int, distinct_id: Id) -> int | None:
        row = db.execute(
            self._sql("SELECT person_id FROM person_ids WHERE project_id = ? AND distinct_id = ?"),
            (project_id, distinct_id),
        ).fetchone()
        return None if row is None else int(row[0])

    def ensure_person(self, db: Connection, project_id: int, distinct_id: Id) -> int:
        person_id = self.person_of(db, project_id, distinct_id)
        if person_id is not None:
            return person_id
        person_id = self._dialect.insert_id(
            db, "INSERT INTO persons (project_id, properties) VALUES (?, '{}')", (project_id,)
        )
        db.execute(
            self._sql(
                "INSERT INTO person_ids (project_id, distinct_id, person_id) VALUES (?, ?, ?)"
            ),
            (project_id, distinct_id, person_id),
        )
        return person_id

    def mark_identified(self, db: Connection, project_id: int, *distinct_ids: Id) -> None:
        marks = ", ".join("?" * len(distinct_ids))
        db.execute(
            # `marks` is only placeholders; True is a parameter because SQLite before 3.23 has
            # no TRUE (it stores the 1 a bool is), and PostgreSQL's column is BOOLEAN.
            self._sql(
                "UPDATE person_ids SET identified = ?"  # noqa: S608
                f" WHERE project_id = ? AND distinct_id IN ({marks})"
            ),
            (True, project_id, *distinct_ids),
        )

    def may_link(self, db: Connection, project_id: int, first_id: Id, second_id: Id) -> bool:
        """Whether a public key may link the two ids: one side must still be anonymous."""
        return not (
            self._identified(db, project_id, first_id)
            and self._identified(db, project_id, second_id)
        )

    def _identified(self, db: Connection, project_id: int, distinct_id: Id) -> bool:
        # `other.identified` alone: SQLite's 0 or 1 and PostgreSQL's BOOLEAN both test as such.
        row = db.execute(
            self._sql(
                "SELECT 1 FROM person_ids mine"
                " JOIN person_ids other ON other.person_id = mine.person_id"
                " WHERE mine.project_id = ? AND mine.distinct_id = ? AND other.identified LIMIT 1"
            ),
            (project_id, distinct_id),
        ).fetchone()
        return row is not None

    def merge(self, db: Connection, project_id: int, first_id: Id, second_id: Id) -> None:
        """Make the persons of two ids one; their events follow because events keep their ids."""
        first = self.ensure_person(db, project_id, first_id)
        second = self.ensure_person(db, project_id, second_id)
        if first == second:
            return
        keep, drop = min(first, second), max(first, second)
        merged = merge_persons(self._person(db, keep), self._person(db, drop))
        db.execute(
            self._sql("UPDATE person_ids SET person_id = ? WHERE person_id = ?"), (keep, drop)
        )
        self._write_person(db, keep, merged)
        db.execute(self._sql("DELETE FROM persons WHERE id = ?"), (drop,))

    def change_person_properties(
        self, db: Connection, person_id: int, message: ValidMessage, trusted: bool
    ) -> None:
        """Apply the message's $set, $set_once and $unset (storage/versioned.py decides)."""
        update = person_update(
            message.person_set,
            message.person_set_once,
            message.person_unset,
            message.timestamp,
            message.uuid,
            trusted,
        )
        self._write_person(db, person_id, merge_persons(self._person(db, person_id), update))

    def set_group_properties(self, db: Connection, project_id: int, message: ValidMessage) -> None:
        key: tuple[int, Id, Id] = self._group_key(project_id, message.group_type, message.group_key)
        row = db.execute(
            self._sql(_SELECT_GROUP) + self._dialect.lock_row,
            key,
        ).fetchone()
        # Only secret keys may send group_identify, so group properties are always trusted.
        update = stamp(message.properties, message.timestamp, message.uuid, True)
        merged = merge_versioned(_load_versioned(row[0]) if row else {}, update)
        insert = self._dialect.insert_replacing(
            "groups (project_id, group_type, group_key, properties) VALUES (?, ?, ?, ?)",
            "project_id, group_type, group_key",
            "properties",
        )
        db.execute(insert, (*key, _dump(merged)))

    def group_properties(
        self, db: Connection, project_id: int, group_type: str, group_key: str
    ) -> dict[str, Any] | None:
        """A group's properties as the routes show them; None if it was never identified."""
        key: tuple[int, Id, Id] = self._group_key(project_id, group_type, group_key)
        row = db.execute(self._sql(_SELECT_GROUP), key).fetchone()
        return None if row is None else plain(_load_versioned(row[0]))

    def distinct_ids(self, db: Connection, person_id: int, limit: int) -> tuple[list[str], int]:
        """The first `limit` ids of a person, sorted, and how many it has."""
        (count,) = db.execute(
            self._sql("SELECT count(*) FROM person_ids WHERE person_id = ?"), (person_id,)
        ).fetchone()
        rows = db.execute(
            self._sql(
                "SELECT distinct_id FROM person_ids WHERE person_id = ?"
                " ORDER BY distinct_id LIMIT ?"
            ),
            (person_id, limit),
        ).fetchall()
        return [self._dialect.read_identifier(r[0]) for r in rows], int(count)

    def person_properties(self, db: Connection, person_id: int) -> dict[str, Any]:
        return person_plain(self._person(db, person_id))

    def _group_key(self, project_id: int, group_type: str, group_key: str) -> tuple[int, Id, Id]:
        identifier = self._dialect.identifier
        return (project_id, identifier(group_type), identifier(group_key))

    def _person(self, db: Connection, person_id: int) -> PersonDocument:
        row = db.execute(
            self._sql("SELECT properties FROM persons WHERE id = ?"), (person_id,)
        ).fetchone()
        return {} if row is None else _load_person(row[0])

    def _write_person(self, db: Connection, person_id: int, document: PersonDocument) -> None:
        db.execute(
            self._sql("UPDATE persons SET properties = ? WHERE id = ?"),
            (_dump(document), person_id),
        )


def _load_person(text: str) -> PersonDocument:
    loaded = load_stored(text, wrapping=3)  # {"$set_once": {name: [value, ...]}} at most
    return loaded if isinstance(loaded, dict) else {}


def _load_versioned(text: str) -> Versioned:
    loaded = load_stored(text, wrapping=2)  # {name: [value, ...]} around each value
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(v, list) and len(v) >= 3}


def _dump(versioned: Versioned | PersonDocument) -> str:
    return json.dumps(versioned, separators=(",", ":"), ensure_ascii=False)
