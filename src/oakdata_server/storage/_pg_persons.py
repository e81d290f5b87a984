"""Persons, their ids and properties in PostgreSQL, inside the caller's transaction.

_persons.py's rules in PostgreSQL's dialect (identifiers are bytes: _pg_schema.py says why),
and what only this engine does: the identity lock, and persons for many ids at once.

Concurrency: the caller holds a per-project advisory lock for every change to persons and
ids, so two requests (two workers, two machines) never merge the same persons at once; the
rules then read as if there were one writer, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from oakdata_server.storage._persons import Persons
from oakdata_server.storage._sql import POSTGRES

Connection = Any  # a psycopg.Connection; psycopg's own types stay inside the engine

KNOWN_IDS = 200_000  # ids a process remembers as having a person; ~25 MB at most


class KnownIds:
    """Ids known to have a person, remembered by one process so that a run of captures from
    ids seen before needs no query about persons at all.

    Never wrong, because an id never loses its person: merges move ids between persons and
    nothing deletes one. So an id read as having a person (a committed row) has one for
    good, and the engine adds the ids it gave persons only once their transaction has
    committed (a rolled-back person never existed). Restoring the database from an older
    backup is the one way to take persons back: the ingest nodes restart with it (scaling.md).
    A miss costs only the query this saves.
    Bounded: when full it starts over. Shared by the engine's threads: each set operation
    is atomic, and no step relies on two of them together."""

    def __init__(self, limit: int = KNOWN_IDS) -> None:
        self._ids: set[tuple[int, bytes]] = set()
        self._limit = limit

    def unknown(self, project_id: int, distinct_ids: Collection[bytes]) -> set[bytes]:
        ids = self._ids
        return {d for d in distinct_ids if (project_id, d) not in ids}

    def add(self, project_id: int, distinct_ids: Collection[bytes]) -> None:
        if len(self._ids) + len(distinct_ids) > self._limit:
            self._ids.clear()
        self._ids.update([(project_id, d) for d in distinct_ids])


class PostgresPersons(Persons[bytes]):
    def __init__(self) -> None:
        super().__init__(POSTGRES)

    def identity_lock(self, db: Connection, project_id: int) -> None:
        """Serialize changes to a project's persons until the transaction ends."""
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (1, project_id))

    def having_persons(
        self, db: Connection, project_id: int, distinct_ids: Collection[bytes]
    ) -> set[bytes]:
        """Those of `distinct_ids` that have a person."""
        rows = db.execute(
            "SELECT distinct_id FROM person_ids WHERE project_id = %s AND distinct_id = ANY(%s)",
            (project_id, list(distinct_ids)),
        ).fetchall()
        return {bytes(row[0]) for row in rows}

    def ensure_persons(self, db: Connection, project_id: int, distinct_ids: set[bytes]) -> None:
        """A person for each id that has none yet, in three statements whatever their number."""
        if not distinct_ids:
            return
        missing = sorted(distinct_ids - self.having_persons(db, project_id, distinct_ids))
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


persons = PostgresPersons()
